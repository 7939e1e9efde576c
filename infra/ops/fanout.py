"""One command on many nodes at once: a thread per node, each with its own deadline."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from .inventory import Node
from .transport import RunResult, Stream, Transport

#: Threads mostly wait on the network; this bounds them for very large stacks.
MAX_THREADS = 128
#: Live output: (node, stream, line).
NodeSink = Callable[[Node, Stream, str], None]
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class NodeResult:
    """One node's outcome."""

    node: Node
    result: RunResult
    seconds: float


def run_all(
    transport: Transport,
    nodes: Sequence[Node],
    command: str,
    *,
    timeout_s: float,
    sink: NodeSink | None = None,
) -> list[NodeResult]:
    """Run `command` on every node in parallel; results in `nodes`' order."""

    def one(node: Node) -> NodeResult:
        started = time.monotonic()
        on_line = None if sink is None else (lambda s, line: sink(node, s, line))
        result = transport.run(node, command, timeout_s=timeout_s, on_line=on_line)
        return NodeResult(node, result, time.monotonic() - started)

    return parallel(one, nodes)


def parallel(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """fn over items on a thread each; on Ctrl-C, return at once rather than join the threads."""
    if not items:
        return []
    pool = ThreadPoolExecutor(max_workers=min(len(items), MAX_THREADS))
    try:
        return list(pool.map(fn, items))
    finally:
        # Threads still running end when the caller closes the transport under them.
        pool.shutdown(wait=False, cancel_futures=True)


def summary(results: Sequence[NodeResult], seconds: float) -> str:
    """One line: how many nodes succeeded, failed (with exit codes) or never ran the command."""
    ok = [r for r in results if r.result.ok]
    failed = [r for r in results if r.result.error is None and not r.result.ok]
    errors = [r for r in results if r.result.error is not None]
    parts = [f"{len(ok)}/{len(results)} ok"]
    if failed:
        shown = ", ".join(f"{r.node.name} ({r.result.exit_code})" for r in failed)
        parts.append(f"{len(failed)} exited non-zero: {shown}")
    if errors:
        parts.append(
            f"{len(errors)} did not run to the end: {', '.join(r.node.name for r in errors)}"
        )
    return "; ".join(parts) + f" in {seconds:.1f}s"
