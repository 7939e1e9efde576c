"""Bundles and stage 0 (docs/bundles.md): what synth renders, checked with the tools that read
it: cloud-init's own gzip reader and schema, shellcheck, systemd-analyze, tar."""

from __future__ import annotations

import base64
import hashlib
import io
import random
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from jinja2 import ChoiceLoader, DictLoader

from infra.errors import UserError
from infra.node_plan import NodePlan, plan_nodes, pool_stage0
from infra.render import steps as steps_mod
from infra.render.bundle import unpack
from infra.render.cloud_config import OCI_METADATA_LIMIT
from infra.render.jinja import environment
from infra.render.stage0 import MAX_STAGE0_B64, UNIT, Stage0
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

EXAMPLES = load_examples()
LIB = "/usr/local/lib/gpuform"


def _plan(stack: AnyStack) -> tuple[NodePlan, ...]:
    return plan_nodes(stack, settings_for(stack))


def _stage0s(stack: AnyStack) -> list[Stage0]:
    """What the stack's nodes boot: one stage 0 per node, or a cluster network's shared one."""
    plan = _plan(stack)
    if plan[0].placement == "cluster_network":
        return [pool_stage0(plan)]
    return [n.stage0 for n in plan]


def _sizes() -> dict[str, list[int]]:
    return {name: [len(s.user_data_b64) for s in _stage0s(st)] for name, st in EXAMPLES.items()}


def test_every_examples_user_data_is_at_most_4000_bytes() -> None:
    for name, sizes in _sizes().items():
        assert sizes and max(sizes) <= MAX_STAGE0_B64, (name, sizes)


def test_a_bundle_holds_exactly_the_nodes_files_and_is_the_same_every_synth() -> None:
    stack = EXAMPLES["deepseek-r1-2x-h100"]
    head, worker = _plan(stack)
    again = _plan(stack)[0]
    assert again.bundle.archive == head.bundle.archive
    assert head.bundle.sha256 == hashlib.sha256(head.bundle.archive).hexdigest()
    assert head.bundle.sha256 != worker.bundle.sha256
    with tarfile.open(fileobj=io.BytesIO(head.bundle.archive), mode="r:gz") as tar:
        members = tar.getmembers()
    # Files only (unpacked over /, a directory entry would reset /etc's mode), owned by root.
    assert all(m.isfile() and m.uid == 0 and m.gid == 0 for m in members)
    files = unpack(head.bundle.archive)
    assert {p: c for p, (_, c) in files.items()} == head.files
    assert all(mode == ("0755" if p.endswith(".sh") else "0644") for p, (mode, _) in files.items())
    assert base64.b64decode(head.bundle.object_text) == head.bundle.archive


def test_cloud_inits_own_gzip_reader_reads_both_members_of_user_data() -> None:
    # The sha256 lines ride in a second, stored gzip member; cloud-init must read them too.
    stage0 = _plan(EXAMPLES["r1-distill-llama-8b"])[0].stage0
    reader = (
        "import sys; from cloudinit import util; "
        "sys.stdout.write(util.decomp_gzip(sys.stdin.buffer.read(), quiet=False))"
    )
    proc = subprocess.run(
        ["/usr/bin/python3", "-c", reader],
        input=stage0.user_data,
        capture_output=True,
        check=True,
        timeout=60,
    )
    assert proc.stdout.decode() == stage0.cloud_config
    doc = yaml.safe_load(proc.stdout)
    written = {f["path"]: f["content"] for f in doc["write_files"]}
    assert written[f"{LIB}/bundles"] == f"{stage0.bundles[0].sha256}\n"


@pytest.mark.parametrize("name", ["r1-distill-llama-8b", "deepseek-r1-rl"])
def test_stage0_passes_cloud_init_schema_shellcheck_and_systemd_verify(name: str) -> None:
    (stage0, *_) = _stage0s(EXAMPLES[name])
    assert_clean(cloud_init_schema(stage0.cloud_config), f"cloud-init schema ({name})")
    files = stage0.files_installed()
    assert_silent(shellcheck_files({f"{LIB}/stage0.sh": files[f"{LIB}/stage0.sh"]}), name)
    assert f"/etc/systemd/system/{UNIT}" in files
    assert_silent(verify_units(files), name)


def test_a_pool_maps_every_node_to_its_own_bundle() -> None:
    plan = _plan(EXAMPLES["deepseek-r1-rl"])
    stage0 = pool_stage0(plan)
    assert len(stage0.bundles) == 2  # the Ray head's, and fifteen identical workers'
    rows = [line.split() for line in stage0.files_installed()[f"{LIB}/pool-nodes"].splitlines()]
    assert [int(r[0]) for r in rows] == [n.index for n in plan]
    for (_, kind, head), node in zip(rows, plan, strict=True):
        assert stage0.bundles[int(kind)].sha256 == node.bundle.sha256
        assert int(head) == node.head


def test_a_pool_with_too_many_kinds_of_node_is_refused_in_one_line() -> None:
    plan = _plan(EXAMPLES["deepseek-r1-rl"])
    stage0 = pool_stage0(plan)
    many = Stage0(stage0.first, tuple(n.bundle for n in plan) * 3, stage0.pool)
    with pytest.raises(UserError, match=r"^stack 'deepseek-r1-rl' its cluster network: st") as e:
        _ = many.user_data_b64
    assert "\n" not in str(e.value) and "placement" in str(e.value)


@pytest.fixture
def twenty_kb_step(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A dummy step on every node: a unit and a 20 KB script gzip cannot squeeze."""
    rng = random.Random(19)
    body = "".join(f"# {rng.getrandbits(128):032x}\n" for _ in range(20_000 // 35))
    templates = {
        "scripts/dummy.sh.j2": f"#!/bin/bash\n{body}true\n",
        "units/dummy.service.j2": (
            "[Unit]\nDescription=dummy\n\n[Service]\nType=oneshot\n"
            "ExecStart={{ paths.lib }}/dummy.sh\n"
        ),
    }
    env = environment()
    assert env.loader is not None and env.cache is not None
    monkeypatch.setattr(env, "loader", ChoiceLoader([DictLoader(templates), env.loader]))
    dummy = steps_mod.Step("dummy", ("dummy",), reads=("paths",))
    monkeypatch.setattr(steps_mod, "STEPS", (*steps_mod.STEPS, dummy))
    env.cache.clear()
    yield
    env.cache.clear()


def _bundle_sizes() -> dict[str, list[tuple[str, int]]]:
    return {
        name: [(n.bundle.sha256, n.bundle.size) for n in _plan(stack)]
        for name, stack in EXAMPLES.items()
    }


def test_a_20_kb_step_leaves_every_examples_user_data_the_same_size(
    request: pytest.FixtureRequest,
) -> None:
    before, bundles_before = _sizes(), _bundle_sizes()
    request.getfixturevalue("twenty_kb_step")
    after, bundles_after = _sizes(), _bundle_sizes()
    assert after == before
    for name in EXAMPLES:
        for (sha0, size0), (sha1, size1) in zip(
            bundles_before[name], bundles_after[name], strict=True
        ):
            # The step is in every bundle (new hash; 20 KB of hex is 10 KB of entropy) ...
            assert sha1 != sha0 and size1 > size0 + 8_000, name
    # ... and in every node's files.
    node = _plan(EXAMPLES["r1-distill-llama-8b"])[0]
    assert f"{LIB}/dummy.sh" in node.files and "gpuform-dummy.service" in node.steps


def test_the_readmes_user_data_table_is_the_plans() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("### What each node's user_data costs", 1)[1].split("\n### ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and " B |" in line]
    expected = []
    for name, stack in sorted(EXAMPLES.items()):
        plan = _plan(stack)
        if plan[0].placement == "cluster_network":
            s = pool_stage0(plan)
            sizes = " + ".join(f"{b.size:,}" for b in s.bundles)
            bundle = f"{len(s.bundles)}: {sizes} B"
            expected.append((name, f"0-{len(plan) - 1} (one pool)", s.user_data_b64, bundle))
            continue
        for n in plan:
            label = f"{n.index} ({n.role})" if len(plan) > 1 else str(n.index)
            expected.append((name, label, n.user_data_b64, f"{n.bundle.size:,} B"))
    want = [
        f"| {name} | {label} | {len(b64):,} B | {100 * len(b64) / OCI_METADATA_LIMIT:.0f}% "
        f"| {bundle} |"
        for name, label, b64, bundle in expected
    ]
    # A changed template changes the bundle sizes: paste these rows into the README.
    assert rows == want, "\n".join(["README's user_data table should read:", *want])
