"""One command on many nodes at once: a thread per node, each with its own deadline."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
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
    """fn over items on daemon threads, results in order; Ctrl-C returns at once.

    Not a ThreadPoolExecutor: Python joins its threads at exit, so after Ctrl-C a node call
    stuck in the SSH library (its connection closed under it, or not) held the exit for as
    long as it stayed stuck. Daemon threads end with the process.
    """
    if not items:
        return []
    todo: queue.SimpleQueue[int] = queue.SimpleQueue()
    for index in range(len(items)):
        todo.put(index)
    results: dict[int, R] = {}
    failures: list[BaseException] = []
    finished = threading.Semaphore(0)

    def work() -> None:
        while True:
            try:
                index = todo.get_nowait()
            except queue.Empty:
                return
            try:
                results[index] = fn(items[index])
            except BaseException as err:  # re-raised in the caller's thread, as map() does
                failures.append(err)
            finally:
                finished.release()

    for n in range(min(len(items), MAX_THREADS)):
        threading.Thread(target=work, name=f"gpuform-node-{n}", daemon=True).start()
    for _ in items:
        finished.acquire()  # Ctrl-C lands here, in plain Python
    if failures:
        raise failures[0]
    return [results[i] for i in range(len(items))]


def background(fn: Callable[[], R]) -> Callable[[], R]:
    """Start fn on a daemon thread; the returned call waits for its result (or its error)."""
    box: list[R] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            box.append(fn())
        except BaseException as err:
            failure.append(err)

    thread = threading.Thread(target=run, name="gpuform-background", daemon=True)
    thread.start()

    def result() -> R:
        thread.join()
        if failure:
            raise failure[0]
        return box[0]

    return result


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
