"""The one cloud-config every node of a cluster network boots (infra/render/pool.py).

Each node must end up with exactly the files a compute-cluster node with its index gets from
its own cloud-config; the shared payload must pass the same validators and fit OCI's metadata.
"""

from __future__ import annotations

import base64
import gzip
import re

import pytest
import yaml

from infra import node_metadata
from infra.errors import UserError
from infra.node_plan import NodePlan, plan_nodes, pool_bootstrap_files, pool_user_data_b64
from infra.render import pool
from infra.render.cloud_config import MAX_USER_DATA_B64
from infra.specs import AnyStack
from infra.stacks import load_examples
from infra.synth import settings_for

from .test_render_validators import (
    assert_clean,
    assert_silent,
    cloud_init_schema,
    shellcheck_files,
    verify_units,
)

_EXAMPLES = load_examples()


def _as_pool(name: str) -> tuple[AnyStack, tuple[NodePlan, ...]]:
    spec = _EXAMPLES[name]
    nodes = spec.nodes.model_copy(update={"placement": "cluster_network"})
    spec = spec.model_copy(update={"nodes": nodes})
    return spec, plan_nodes(spec, settings_for(spec))


@pytest.mark.parametrize("name", ["deepseek-r1-rl", "deepseek-r1-2x-h100"])
def test_every_node_installs_exactly_its_own_files(name: str) -> None:
    _, plans = _as_pool(name)
    layout = pool.pool_layout([p.context for p in plans], [p.head for p in plans])
    for p in plans:
        assert layout.files_of(p.index) == p.files, p.index
        assert layout.nodes[p.index].head == p.head


def test_sixteen_nodes_are_two_kinds_and_each_file_is_stored_once() -> None:
    _, plans = _as_pool("deepseek-r1-rl")
    layout = pool.pool_layout([p.context for p in plans], [p.head for p in plans])
    assert len(layout.kinds) == 2  # the Ray head, and fifteen identical workers
    assert [n.kind for n in layout.nodes] == [0] + [1] * 15
    distinct = {c for p in plans for c in p.files.values()}
    assert sorted(layout.store.values()) == sorted(distinct)


def test_the_shared_user_data_is_valid_and_fits_oci_metadata() -> None:
    _, plans = _as_pool("deepseek-r1-rl")
    b64 = pool_user_data_b64(plans)
    assert len(b64) <= MAX_USER_DATA_B64 - 4_000
    text = gzip.decompress(base64.b64decode(b64)).decode()
    assert_clean(cloud_init_schema(text), "pool cloud-config")
    doc = yaml.safe_load(text)
    written = {f["path"]: f["content"] for f in doc["write_files"]}
    assert written == pool_bootstrap_files(plans)
    # cloud-init starts only the roster step; the node's own units wait for their index.
    assert doc["runcmd"][-1] == ["systemctl", "start", "--no-block", pool.ROSTER_UNIT]
    assert not any(p.endswith("/gpuform.target") for p in written)


def test_roster_step_passes_shellcheck_and_systemd_verify() -> None:
    _, plans = _as_pool("deepseek-r1-rl")
    files = pool_bootstrap_files(plans)
    scripts = {p: c for p, c in files.items() if p.endswith(".sh")}
    assert_silent(shellcheck_files(scripts), "roster.sh")
    units = {p: c for p, c in files.items() if "/pool/" not in p}
    assert_silent(verify_units(units), "roster unit")


def test_roster_step_reads_the_keys_terraform_sets_and_never_prints_the_par() -> None:
    _, plans = _as_pool("deepseek-r1-rl")
    script = next(c for p, c in pool_bootstrap_files(plans).items() if p.endswith("roster.sh"))
    assert f"instance/metadata/{node_metadata.ROSTER_URL}" in script
    index_var, head_var = node_metadata.NODE_INDEX.upper(), node_metadata.HEAD_IP.upper()
    assert f'printf \'%s=%s\\n%s=%s\\n\' {index_var} "$index" {head_var} "$head_ip"' in script
    # The URL is a pre-authenticated request, a bearer credential: no message carries it.
    assert not re.search(r'(echo|fail) "[^"]*\$\{?url', script)


def test_pool_nodes_have_no_hostname_label() -> None:
    _, plans = _as_pool("deepseek-r1-rl")
    assert {p.hostname for p in plans} == {""}
    assert {p.placement for p in plans} == {"cluster_network"}


def test_a_payload_over_the_cap_is_refused_naming_placement(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, plans = _as_pool("deepseek-r1-2x-h100")
    monkeypatch.setattr(pool, "MAX_USER_DATA_B64", 20_000)
    with pytest.raises(UserError) as err:
        pool_user_data_b64(plans)
    msg = str(err.value)
    assert msg.startswith("nodes.placement = 'cluster_network': ")
    assert 'use placement="compute_cluster"' in msg and "\n" not in msg
