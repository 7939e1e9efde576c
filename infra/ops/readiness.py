"""What still stands between a stack and "ready": per node and per step, from probes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .endpoint import EndpointState
from .inventory import Inventory, Node
from .probe import STAGE0, TARGET, NodeState


@dataclass(frozen=True)
class Gap:
    """One thing not yet as it must be."""

    where: str
    """A node's name, or `endpoint`."""
    what: str
    """A step unit, `ssh`, `ray`, gpuform.target or the endpoint URL."""
    state: str
    reason: str = ""
    final: bool = False
    """Waiting will not fix it (a step failed for good, a unit that does not exist)."""

    def line(self) -> str:
        reason = f": {self.reason}" if self.reason else ""
        return f"{self.where}: {self.what} {self.state}{reason}"


def node_gaps(inventory: Inventory, state: NodeState) -> list[Gap]:
    """What is missing on one node: reachability, each step, the target, its Ray cluster."""
    node = state.node
    if not state.reachable:
        # Transport errors start with the node's name; the gap names it already.
        why = (state.error or "").removeprefix(f"{node.name}: ")
        return [Gap(node.name, "ssh", "unreachable", why, state.user_must_fix)]
    gaps: list[Gap] = []
    # Stage 0 installs a node's units from its bundle (a cluster network node, once it has
    # found itself in the roster).
    stage0 = state.step(STAGE0)
    installing = stage0 is not None and not stage0.done and not stage0.failed
    for step in state.steps:
        if step.load == "not-found" and installing:
            gaps.append(Gap(node.name, step.unit, "not installed yet", "waiting for its bundle"))
        elif step.load == "not-found":
            gaps.append(Gap(node.name, step.unit, "not found", "no such unit on the node", True))
        elif not step.done:
            final = step.failed and step.unit not in state.queued
            gaps.append(Gap(node.name, step.unit, step.state, step.reason, final))
    if state.target is not None and not state.target.done:
        gaps.append(Gap(node.name, TARGET, state.target.state))
    # Ray can only answer once its step runs; before that its gap is the step's.
    if not gaps:
        gaps += _ray_gaps(inventory, node, state)
    return gaps


def gaps(
    inventory: Inventory, states: Mapping[int, NodeState], endpoint: EndpointState | None
) -> list[Gap]:
    """Everything missing across the stack; empty when it is ready."""
    found = [g for n in inventory.nodes for g in node_gaps(inventory, states[n.index])]
    if endpoint is not None and not endpoint.ok:
        found.append(Gap("endpoint", endpoint.url, "not answering", endpoint.detail))
    return found


def progress(state: NodeState) -> str:
    """One line for a node: steps done out of all, and the step it is on."""
    if not state.reachable:
        return "unreachable"
    done = sum(s.done for s in state.steps)
    current = next((s for s in state.steps if not s.done), None)
    head = f"{done}/{len(state.steps)} steps"
    if current is None:
        return f"{head}, all active"
    return f"{head}, {short(current.unit)} {current.state}"


def short(unit: str) -> str:
    """`gpuform-engine.service` -> `engine`: column headers and progress lines."""
    name = unit.removesuffix(".service")
    return name.removeprefix("gpuform-")


def _ray_gaps(inventory: Inventory, node: Node, state: NodeState) -> list[Gap]:
    if node.ray_role != "head":
        return []
    expected = len(inventory.ray_members(node))
    if state.ray_nodes is None:
        return [Gap(node.name, "ray", "not answering", state.ray_error)]
    if state.ray_nodes < expected:
        return [Gap(node.name, "ray", f"{state.ray_nodes}/{expected} nodes joined")]
    return []
