"""status, wait and logs against booted nodes: real systemd units, reached through nsenter.

One boot of the 2-node pipeline stack (a Ray head and a Ray worker). While the containers
still run, the ops code (infra/ops, the same that runs over SSH) looks at them through
tests/boot/transport.py; the tests then compare what it saw with what the harness collected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import pytest

from infra.ops import views
from infra.ops.inventory import Inventory
from infra.ops.journal import journal_command
from infra.ops.status import StatusReport, gather
from infra.ops.wait import WaitOutcome, wait
from infra.specs import StackSpec
from infra.stacks import load_examples
from tests.boot import can_boot, harness
from tests.boot import container as ct
from tests.boot.collect import NodeReport
from tests.boot.transport import ContainerTransport, inventory

STACK = "deepseek-r1-2x-h100"
_CANNOT = can_boot.why_not()

pytestmark = [pytest.mark.slow, pytest.mark.skipif(bool(_CANNOT), reason=_CANNOT or "runs")]


@dataclass
class Seen:
    """What the ops code saw while the stack's containers ran."""

    inventory: Inventory
    containers: dict[int, ct.Container] = field(default_factory=dict)
    status: StatusReport | None = None
    failed_fast: WaitOutcome | None = None
    timed_out: WaitOutcome | None = None
    journal: list[str] = field(default_factory=list)
    reports: list[NodeReport] = field(default_factory=list)

    def look(self) -> None:
        t = ContainerTransport(self.containers)
        inv = self.inventory
        self.status = gather(t, inv, check_endpoint=False, oci_profile=None)
        self.failed_fast = wait(t, inv, timeout_s=60, interval_s=1, check_endpoint=False)
        self.timed_out = wait(
            t, inv, timeout_s=2, interval_s=1, check_endpoint=False, fail_fast=False
        )
        self.journal = list(t.stream(inv.nodes[1], journal_command(lines=400, follow=False)))


@cache
def _booted() -> Seen:
    spec = load_examples()[STACK]
    assert isinstance(spec, StackSpec), f"{STACK} is an inference stack"
    seen = Seen(inventory(spec))

    def look(containers: dict[int, ct.Container]) -> None:
        seen.containers = containers  # every node is settled and still running
        seen.look()

    seen.reports = harness.boot_stack(spec, while_up=look)
    return seen


def test_status_reports_the_unit_states_systemd_has() -> None:
    seen = _booted()
    assert seen.status is not None
    for report in seen.reports:
        state = seen.status.states[report.plan.index]
        assert state.reachable, state.error
        ours = {s.unit: s.active for s in state.steps}
        theirs = {u.name: u.active for u in report.units}
        assert ours == {u: theirs[u] for u in ours}
        assert state.gpus == "none (no nvidia-smi or rocm-smi)"
        for step in state.steps:
            if step.failed:
                unit = report.unit(step.unit)
                assert unit is not None and step.reason in unit.own_lines
                assert step.reason.startswith("gpuform: ")


def test_wait_stops_at_a_failed_step_and_names_its_reason() -> None:
    outcome = _booted().failed_fast
    assert outcome is not None and not outcome.ready and not outcome.timed_out
    final = [g for g in outcome.last.gaps if g.final]
    assert final and all(g.reason.startswith("gpuform: ") for g in final)
    report = views.gap_report(outcome, 60)
    assert report[0].startswith("a step failed for good after ")
    for gap in final:
        assert f"    {gap.what}: {gap.state}: {gap.reason}" in report


def test_wait_times_out_with_a_report_per_node_and_step() -> None:
    seen = _booted()
    outcome = seen.timed_out
    assert outcome is not None and outcome.timed_out
    report = views.gap_report(outcome, 2)
    assert report[0] == "not ready after 2s; still missing:"
    for node in seen.inventory.nodes:
        assert f"  {node.name}:" in report
    # Steps that never started say why: the dependency that failed.
    never = [g for g in outcome.last.gaps if g.state == "inactive (dead)"]
    assert never and all("dependency" in g.reason.lower() for g in never), never
    # Ray is not asked to account for its nodes before its step runs.
    assert not [g for g in outcome.last.gaps if g.what == "ray"]
    ray = seen.status.states[0].ray_error if seen.status else ""
    assert ray.startswith("ray status: ") and "docker" in ray


def test_logs_read_the_gpuform_units_journal() -> None:
    journal = _booted().journal
    assert any("gpuform-" in line for line in journal), journal[-20:]
