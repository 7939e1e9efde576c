"""Every registered engine is planned, synthesized, rendered and booted, driver by driver.

The drivers come from the registry (infra/engines/__init__.py, DRIVERS), never from a list here:
a fifth engine is tested the moment it is registered. Each driver declares the model a minimal
stack serves (`example_model`); the planner picks the shape and node count, as `gpuform plan`
would for a user, and the stack goes through every consumer of what gpuform writes: the OCI
provider schema, cloud-init, shellcheck, systemd-analyze, and a boot under systemd.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from infra.engines import DRIVERS, ENGINE_KINDS, EngineDriver, driver
from infra.errors import UserError
from infra.node_plan import NodePlan, plan_nodes
from infra.sizing.catalog import lookup
from infra.sizing.planner import Request, plan
from infra.sizing.settings import resolve
from infra.specs import Deployment, Engine, Model, NodeGroup, StackSpec
from infra.specs.errors import one_line
from infra.synth import synth
from infra.tf.schema import check_terraform_json
from tests.boot import can_boot, checks, report
from tests.boot.collect import NodeReport
from tests.boot.harness import boot_stack
from tests.conftest import run_cli
from tests.standin_oci import e2e
from tests.standin_oci.mirror import install
from tests.test_render_validators import (
    assert_clean,
    assert_silent,
    cloud_init_schema,
    shellcheck_files,
    verify_units,
)

_KINDS = pytest.mark.parametrize("kind", ENGINE_KINDS)


@cache
def minimal_stack(kind: str) -> StackSpec:
    """One stack serving the driver's example model where the planner puts it."""
    drv = driver(kind)
    chosen = plan(Request(model=lookup(drv.example_model), engine=kind)).chosen
    assert chosen is not None, f"{kind}: the planner fits {drv.example_model} nowhere"
    return StackSpec(
        deployment=Deployment(
            name=f"every-engine-{kind}",
            region="us-ashburn-1",
            ssh_allowed_cidrs=["198.51.100.0/24"],
            api_allowed_cidrs=["198.51.100.0/24"],
        ),
        nodes=NodeGroup(shape=chosen.shape, count=chosen.nodes),
        model=Model(id=drv.example_model, precision=chosen.precision),
        engine=Engine(kind=kind),
    )


@cache
def _plans(kind: str) -> tuple[NodePlan, ...]:
    stack = minimal_stack(kind)
    return plan_nodes(stack, resolve(stack))


@pytest.fixture(scope="module")
def terraform(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every engine's minimal stack, synthesized together (one jsii start for all)."""
    out = tmp_path_factory.mktemp("every-engine") / "cdktf.out"
    stacks = {minimal_stack(k).name: minimal_stack(k) for k in ENGINE_KINDS}
    return synth(stacks, out).stacks


# --- the registry is the one list ------------------------------------------------------------


def test_an_unregistered_kind_is_refused_naming_every_registered_one() -> None:
    with pytest.raises(ValidationError) as err:
        Engine(kind="triton")
    line = one_line(err.value)
    assert line.startswith("Engine.kind = 'triton': ")
    assert all(kind in line for kind in ENGINE_KINDS), line


def test_plan_help_and_refusal_name_every_registered_engine() -> None:
    help_text = " ".join(run_cli(["plan", "--help"]).stdout.split())
    refused = run_cli(["plan", "r1-distill-llama-8b", "--engine", "triton"])
    assert refused.code == 2 and len(refused.stderr.splitlines()) == 1, refused.stderr
    for kind in ENGINE_KINDS:
        assert kind in help_text, (kind, help_text)
        assert kind in refused.stderr, (kind, refused.stderr)


def _gpuform_fetched() -> list[EngineDriver]:
    return [d for d in DRIVERS if not d.pulls_model]


@pytest.mark.parametrize("pulling", [d for d in DRIVERS if d.pulls_model], ids=lambda d: d.kind)
def test_a_weights_bucket_on_a_pulling_engine_names_every_engine_that_takes_one(
    pulling: EngineDriver,
) -> None:
    stack = minimal_stack(pulling.kind)
    doc = stack.model_dump()
    doc["weights"] = {"bucket": "weights", "par_expires": "2099-01-01T00:00:00Z"}
    with pytest.raises(ValidationError) as err:
        StackSpec.model_validate(doc)
    line = one_line(err.value)
    assert "weights is set" in line and pulling.title in line, line
    assert all(d.kind in line for d in _gpuform_fetched()), line


@pytest.mark.parametrize("single", [d for d in DRIVERS if not d.multi_node], ids=lambda d: d.kind)
def test_two_nodes_on_a_one_node_engine_name_every_engine_that_spans_nodes(
    single: EngineDriver,
) -> None:
    with pytest.raises(UserError) as err:
        plan(Request(model=lookup(single.example_model), engine=single.kind, nodes=2))
    line = str(err.value)
    assert f"{single.kind} serves from one node" in line, line
    assert all(d.kind in line for d in DRIVERS if d.multi_node), line


@_KINDS
def test_the_model_id_form_is_the_drivers(kind: str) -> None:
    """A driver's example model is in its id form; another form is refused with the example."""
    drv = driver(kind)
    other = next(d for d in DRIVERS if d.pulls_model != drv.pulls_model).example_model
    doc = minimal_stack(kind).model_dump()
    doc["model"] = {"id": other}
    with pytest.raises(ValidationError) as err:
        StackSpec.model_validate(doc)
    line = one_line(err.value)
    assert f"model.id {other!r}" in line and drv.example_model in line, line


# --- plan, synthesize, render ----------------------------------------------------------------


@_KINDS
def test_the_minimal_stack_plans_with_the_engine_it_names(kind: str) -> None:
    stack = minimal_stack(kind)
    sizes = resolve(stack)
    assert sizes.nodes == stack.nodes.count >= 1
    head = _plans(kind)[0]
    assert head.role == "head" and head.serves_http
    fetch = "gpuform-model-pull.service" if driver(kind).pulls_model else "gpuform-weights.service"
    assert {"gpuform-engine.service", fetch, "gpuform-ready.service"} <= set(head.steps)


@_KINDS
def test_terraform_fits_the_schema_and_takes_port_health_and_key_from_the_driver(
    kind: str, terraform: dict[str, Path]
) -> None:
    drv = driver(kind)
    doc: dict[str, Any] = json.loads(terraform[minimal_stack(kind).name].read_text())
    assert check_terraform_json(doc) == []
    (backend_set,) = doc["resource"]["oci_network_load_balancer_backend_set"].values()
    health = backend_set["health_checker"]
    assert (health["url_path"], health["port"]) == (drv.health_path, drv.port)
    assert health["timeout_in_millis"] == drv.health_timeout_ms
    backends = doc["resource"]["oci_network_load_balancer_backend"].values()
    assert {b["port"] for b in backends} == {drv.port}
    # Only an engine that can check an API key gets the Vault secret and the IAM to read it.
    keyed = drv.api_key is not None
    assert ("api_key_secret_ocid" in doc["variable"]) == keyed
    assert ("oci_identity_policy" in doc["resource"]) == keyed


@_KINDS
def test_every_node_renders_past_cloud_init_shellcheck_and_systemd(kind: str) -> None:
    for node in _plans(kind):
        what = f"{kind} node {node.index}"
        assert_clean(cloud_init_schema(node.cloud_config), f"cloud-init schema ({what})")
        scripts = {p: c for p, c in node.files.items() if p.endswith(".sh")}
        assert_silent(shellcheck_files(scripts), f"shellcheck ({what})")
        assert_silent(verify_units(node.files), f"systemd-analyze verify ({what})")
        run = node.files["/usr/local/lib/gpuform/engine-run.sh"]
        assert minimal_stack(kind).image_ref in run, run


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("terraform") is None, reason="needs terraform")
@_KINDS
def test_terraform_applies_replans_clean_and_destroys_on_the_stand_in_provider(
    kind: str, terraform: dict[str, Path], tmp_path: Path
) -> None:
    """Terraform itself is the judge (docs/terraform-e2e.md), on the stand-in oracle/oci."""
    name = minimal_stack(kind).name
    out_dir = terraform[name].parents[2]  # <out>/stacks/<name>/cdk.tf.json
    (tmp_path / "state").mkdir()
    run = e2e.StackRun(name, out_dir, install(tmp_path / "standin"), tmp_path / "state" / "s.json")
    try:
        run.deploy()
        replanned = run.replan()
        run.destroy()
    except e2e.StepFailed as err:
        pytest.fail(str(err))
    assert replanned.returncode == 0, replanned.stdout
    assert run.outputs["endpoint_url"]["value"].startswith("http"), run.outputs


# --- boot ------------------------------------------------------------------------------------

_CANNOT = can_boot.why_not()


@cache
def _booted(kind: str) -> NodeReport:
    # One node is enough: the head serves, and it is the one every engine has.
    (head,) = boot_stack(minimal_stack(kind), only=(0,))
    return head


@pytest.mark.slow
@_KINDS
@pytest.mark.parametrize("check", checks.ALL, ids=lambda c: c.__name__)
def test_boot_every_engine_passes_every_boot_check(
    kind: str, check: Callable[[NodeReport], list[str]]
) -> None:
    if _CANNOT:
        pytest.skip(_CANNOT)
    r = _booted(kind)
    problems = check(r)
    assert not problems, "\n".join(["", *problems, "", report.render(r)])
