"""A Transport with no network: each node answers the probe from a state the test sets.

It answers in the probe script's own format (systemctl show blocks, @@ sections), so
infra.ops.probe parses exactly what it would parse from a node. `advance` runs before each
answer, which lets a test make steps progress from one poll to the next.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from infra.ops.inventory import Inventory, Node
from infra.ops.transport import LineSink, RunResult


@dataclass
class FakeUnit:
    """A unit's state, as systemctl would show it."""

    active: str = "inactive"
    sub: str = "dead"
    result: str = "success"
    reason: str = ""
    load: str = "loaded"


@dataclass
class FakeNode:
    """What a node answers: its units, GPUs, Ray, or that it is unreachable."""

    units: dict[str, FakeUnit] = field(default_factory=dict)
    queued: set[str] = field(default_factory=set)
    gpus: str = "nvidia-smi 8"
    ray_active: int | None = None
    unreachable: str | None = None


def active() -> FakeUnit:
    return FakeUnit("active", "exited")


def failed(reason: str) -> FakeUnit:
    return FakeUnit("failed", "failed", "exit-code", reason)


def starting(reason: str = "") -> FakeUnit:
    return FakeUnit("activating", "start", "success", reason)


class FakeTransport:
    """Transport over dicts; `calls` counts probes per node."""

    def __init__(self, inventory: Inventory, nodes: dict[int, FakeNode]) -> None:
        self.inventory = inventory
        self.nodes = nodes
        self.advance: Callable[[int, FakeNode], None] = lambda _i, _n: None
        self.calls: dict[int, int] = {}
        self._lock = threading.Lock()

    def run(
        self, node: Node, command: str, *, timeout_s: float, on_line: LineSink | None = None
    ) -> RunResult:
        with self._lock:
            self.calls[node.index] = self.calls.get(node.index, 0) + 1
            state = self.nodes[node.index]
            self.advance(node.index, state)
        if state.unreachable is not None:
            return RunResult(None, "", "", f"{node.name}: {state.unreachable}")
        return RunResult(0, _answer(node, state), "")

    def stream(self, node: Node, command: str) -> Iterator[str]:
        yield from self.run(node, command, timeout_s=10).stdout.splitlines()

    def shell(self, node: Node) -> int:
        return 0

    def close(self) -> None:
        pass


def _answer(node: Node, state: FakeNode) -> str:
    lines = ["@@units"]
    for unit in ("gpuform.target", *node.steps):
        u = state.units.get(unit, FakeUnit(load="not-found"))
        lines += [
            f"Id={unit}", f"LoadState={u.load}", f"ActiveState={u.active}",
            f"SubState={u.sub}", f"Result={u.result}", "NRestarts=0", "",
        ]  # fmt: skip
    lines.append("@@jobs")
    lines += [f"{n} {unit} start running" for n, unit in enumerate(sorted(state.queued))]
    lines += ["@@gpus", state.gpus, "@@reasons"]
    for unit in node.steps:
        step = state.units.get(unit)
        if step is not None and step.active in ("failed", "activating", "inactive"):
            lines.append(f"{unit}\t{step.reason}")
    if node.ray_role == "head":
        lines.append("@@ray")
        if state.ray_active is None:
            lines.append("Error response from daemon: No such container: gpuform-engine")
        else:
            lines += ["Node status", "-" * 20, "Active:"]
            lines += [f" 1 node_{i:040x}" for i in range(state.ray_active)]
            lines += ["Pending:", " (no pending nodes)"]
    return "\n".join(lines) + "\n"
