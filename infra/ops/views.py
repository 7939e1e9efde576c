"""How status, wait and exec look on a terminal (rich), kept apart from what they find."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from .inventory import Inventory, Node
from .probe import NodeState, StepState
from .readiness import Gap, progress, short
from .status import StatusReport
from .wait import Poll, WaitOutcome

_STYLE = {"active": "green", "failed": "red", "activating": "yellow", "inactive": "dim"}


def role(node: Node) -> str:
    """`head r0`, `worker r1`: role and replica in one cell."""
    return f"{node.role} r{node.replica}"


def step_cell(step: StepState | None) -> Text:
    """A step's state, coloured: green active, yellow starting, red failed."""
    if step is None:
        return Text("-", style="dim")
    return Text(step.active, style=_STYLE.get(step.active, ""))


def status_table(report: StatusReport) -> Table:
    """One row per node: role, address, instance, SSH, GPUs, then each step's state."""
    inv = report.inventory
    steps = _step_names(inv)
    table = Table(show_edge=False, pad_edge=False)
    for col in ("node", "role", "private ip", "instance", "ssh", "GPUs"):
        table.add_column(col)
    for unit in steps:
        table.add_column(short(unit))
    for node in inv.nodes:
        state = report.states[node.index]
        reach = Text("ok", "green") if state.reachable else Text("unreachable", "red")
        row: list[str | Text] = [
            node.name, role(node), node.private_ip,
            report.cloud.states.get(node.index, "-"), reach,
            state.gpus if state.reachable else "-",
        ]  # fmt: skip
        row += [step_cell(state.step(u)) if state.reachable else Text("?", "dim") for u in steps]
        table.add_row(*row)
    return table


def status_notes(report: StatusReport) -> list[str]:
    """Lines under the table: why each step is not active, Ray, the endpoint, OCI."""
    lines: list[str] = []
    for node in report.inventory.nodes:
        state = report.states[node.index]
        if not state.reachable:
            lines.append(f"{state.error}")
            continue
        for step in state.steps:
            if not step.done:
                why = step.reason or f"result {step.result}, {step.restarts} restart(s)"
                lines.append(f"{node.name}: {short(step.unit)} {step.state}: {why}")
        if node.ray_role == "head":
            lines.append(_ray_line(report.inventory, state))
    url = report.inventory.endpoint_url or "(no endpoint_url output)"
    if report.endpoint is None:
        lines.append(f"endpoint {url}: not checked")
    else:
        lines.append(f"endpoint {report.endpoint.url}: {report.endpoint.detail}")
    if report.cloud.note:
        lines.append(f"instance state: {report.cloud.note}")
    return lines


def progress_table(inventory: Inventory, poll: Poll, timeout_s: float) -> Table:
    """The live view of `wait`: a line per node, then the endpoint."""
    table = Table(
        title=f"waiting for {inventory.stack}: {poll.elapsed_s:.0f}s of {timeout_s:.0f}s",
        show_edge=False, pad_edge=False, title_justify="left",
    )  # fmt: skip
    table.add_column("node")
    table.add_column("role")
    table.add_column("progress")
    for node in inventory.nodes:
        state = poll.states[node.index]
        table.add_row(node.name, role(node), progress_line(inventory, state))
    if poll.endpoint is not None:
        table.add_row("endpoint", "", poll.endpoint.detail)
    return table


def progress_line(inventory: Inventory, state: NodeState) -> str:
    """A node's steps done, current step, and (on a Ray head) who has joined."""
    line = progress(state)
    if state.reachable and state.node.ray_role == "head":
        line += "; " + _ray_line(inventory, state).split(": ", 1)[1]
    return line


def gap_report(outcome: WaitOutcome, timeout_s: float) -> list[str]:
    """What is still missing, grouped by node, after wait gave up."""
    poll = outcome.last
    if outcome.refused:
        head = f"stopped after {poll.elapsed_s:.0f}s: only you can fix this; still missing:"
    elif outcome.timed_out:
        head = f"not ready after {timeout_s:g}s; still missing:"
    else:
        head = f"a step failed for good after {poll.elapsed_s:.0f}s; still missing:"
    by_where: dict[str, list[Gap]] = {}
    for gap in poll.gaps:
        by_where.setdefault(gap.where, []).append(gap)
    lines = [head]
    for where, found in by_where.items():
        lines.append(f"  {where}:")
        lines += [f"    {g.what}: {g.state}" + (f": {g.reason}" if g.reason else "") for g in found]
    return lines


def _step_names(inventory: Inventory) -> list[str]:
    seen: list[str] = []
    for node in inventory.nodes:
        seen += [u for u in node.steps if u not in seen]
    return seen


def _ray_line(inventory: Inventory, state: NodeState) -> str:
    expected = len(inventory.ray_members(state.node))
    if state.ray_nodes is None:
        return f"{state.node.name}: ray: {state.ray_error or 'not answering'}"
    return f"{state.node.name}: ray: {state.ray_nodes}/{expected} nodes joined"
