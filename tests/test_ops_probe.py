"""The node probe: its shell script, what it parses, and what readiness makes of it."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from infra.ops import probe
from infra.ops.readiness import gaps, node_gaps, progress
from infra.ops.transport import RunResult
from infra.render.stage0 import UNIT as STAGE0_UNIT
from tests.ops import sample
from tests.ops.fake import FakeNode, FakeTransport, active, failed, starting


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
@pytest.mark.parametrize("index", [0, 1])
def test_probe_script_passes_shellcheck(index: int) -> None:
    node = sample.inventory().nodes[index]
    proc = subprocess.run(
        ["shellcheck", "--shell=bash", "-"], input=probe.script(node), capture_output=True,
        text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout


def test_probe_asks_ray_only_on_a_ray_head() -> None:
    inv = sample.inventory()
    assert "ray status" in probe.script(inv.nodes[0])
    assert "ray status" not in probe.script(inv.nodes[1])


def test_parse_reads_units_reasons_gpus_and_ray() -> None:
    inv = sample.inventory()
    units = {u: active() for u in ("gpuform.target", *sample.STEPS)}
    units["gpuform-engine.service"] = failed("gpuform: the engine exited: CUDA out of memory")
    units["gpuform-ready.service"] = starting()
    t = FakeTransport(inv, {0: FakeNode(units, gpus="nvidia-smi 8", ray_active=1)})
    state = probe.probe(t, inv.nodes[0])
    assert state.reachable and state.gpus == "8 (nvidia-smi)"
    engine = state.step("gpuform-engine.service")
    assert engine is not None and engine.failed
    assert engine.reason == "gpuform: the engine exited: CUDA out of memory"
    assert [s.unit for s in state.steps] == sample.STEPS
    assert state.ray_nodes == 1
    assert progress(state) == "3/5 steps, engine failed"


def test_parse_reports_a_probe_that_did_not_run() -> None:
    node = sample.inventory().nodes[0]
    state = probe.parse(node, RunResult(127, "", "bash: systemctl: command not found\n"))
    assert state.error == f"{node.name}: the probe did not run: bash: systemctl: command not found"


def test_gpu_counts_and_their_absence() -> None:
    assert probe._gpus(["none"]) == "none (no nvidia-smi or rocm-smi)"
    assert probe._gpus(["rocm-smi 8"]) == "8 (rocm-smi)"
    failed_smi = ["nvidia-smi 0", "NVIDIA-SMI has failed because it couldn't communicate"]
    assert probe._gpus(failed_smi).startswith("0 (nvidia-smi: NVIDIA-SMI has failed")


def test_ray_status_counts_active_nodes_or_says_why_not() -> None:
    text = "Node status\n----\nActive:\n 1 node_aa\n 1 node_bb\nPending:\n (no pending nodes)"
    assert probe._ray(text.splitlines()) == (2, "")
    count, why = probe._ray(["Error response from daemon: No such container: gpuform-engine"])
    assert count is None and why.endswith("No such container: gpuform-engine")


def test_gaps_name_each_missing_step_ray_and_unreachable_nodes() -> None:
    inv = sample.inventory()
    done = {u: active() for u in ("gpuform.target", *sample.STEPS)}
    nodes = {
        0: FakeNode(dict(done), ray_active=1),
        1: FakeNode({**done, "gpuform-gpu-check.service": failed("gpuform: no NVIDIA GPU")}),
        2: FakeNode(unreachable="timed out after 20s"),
        3: FakeNode({**done, "gpuform-engine.service": starting()}, queued={"x.service"}),
    }
    states = probe.probe_all(FakeTransport(inv, nodes), inv)
    lines = [g.line() for g in gaps(inv, states, None)]
    assert lines == [
        "r1-h100-node-0: ray 1/2 nodes joined",
        "r1-h100-node-1: gpuform-gpu-check.service failed: gpuform: no NVIDIA GPU",
        "r1-h100-node-2: ssh unreachable: timed out after 20s",
        "r1-h100-node-3: gpuform-engine.service activating (start)",
    ]
    assert [g.final for g in node_gaps(inv, states[1])] == [True]


def test_a_failed_step_with_a_queued_restart_is_not_final() -> None:
    inv = sample.inventory()
    units = {u: active() for u in ("gpuform.target", *sample.WORKER_STEPS)}
    units["gpuform-engine.service"] = failed("gpuform: exited")
    node = FakeNode(units, queued={"gpuform-engine.service"})
    state = probe.probe(FakeTransport(inv, {1: node}), inv.nodes[1])
    assert [g.final for g in node_gaps(inv, state)] == [False]


def test_a_step_the_node_does_not_have_is_named_and_final() -> None:
    inv = sample.inventory()
    units = {u: active() for u in ("gpuform.target", *sample.WORKER_STEPS)}
    del units["gpuform-runtime.service"]
    state = probe.probe(FakeTransport(inv, {1: FakeNode(units)}), inv.nodes[1])
    (gap,) = node_gaps(inv, state)
    assert (gap.what, gap.state, gap.final) == ("gpuform-runtime.service", "not found", True)


def test_a_pool_node_waiting_for_its_roster_is_not_missing_its_steps() -> None:
    # A cluster network node lists the roster step first; the others exist only once it has
    # found itself in the roster, so until then they are pending, not absent for good.
    inv = sample.inventory()
    node = inv.nodes[1].model_copy(update={"steps": (STAGE0_UNIT, *sample.WORKER_STEPS)})
    waiting = FakeNode({STAGE0_UNIT: starting("gpuform: waiting for the roster")})
    state = probe.probe(FakeTransport(inv, {1: waiting}), node)
    found = node_gaps(inv, state)
    assert found[0].what == STAGE0_UNIT and not found[0].final
    steps = [g for g in found[1:] if g.what != probe.TARGET]
    assert len(steps) == len(sample.WORKER_STEPS)
    assert {(g.state, g.final) for g in steps} == {("not installed yet", False)}
    assert not any(g.final for g in found)
    # A roster step that failed leaves them missing for good.
    refused = FakeNode({STAGE0_UNIT: failed("gpuform: the roster is stale: run terraform apply")})
    state = probe.probe(FakeTransport(inv, {1: refused}), node)
    assert all(g.final for g in node_gaps(inv, state) if g.what != probe.TARGET)
    assert probe.STAGE0 == STAGE0_UNIT
