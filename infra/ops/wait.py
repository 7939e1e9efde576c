"""`gpuform wait`: poll the nodes until every step is active, Ray whole, the endpoint answering."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from .endpoint import TIMEOUT_S as ENDPOINT_TIMEOUT_S
from .endpoint import EndpointState, check
from .inventory import Inventory
from .probe import PROBE_TIMEOUT_S, NodeState, probe_all
from .readiness import Gap, gaps, node_gaps
from .transport import Transport

MIN_PROBE_S = 3.0


@dataclass(frozen=True)
class Poll:
    """One round of probes."""

    elapsed_s: float
    states: dict[int, NodeState]
    endpoint: EndpointState | None
    gaps: list[Gap]


@dataclass(frozen=True)
class WaitOutcome:
    """How waiting ended: `ready`, or the last poll's gaps (timed out or failed for good)."""

    ready: bool
    timed_out: bool
    last: Poll
    refused: bool = False
    """A node or the bastion refused us (changed host key, refused key): only the user can
    fix that, so waiting stopped at once, whatever `fail_fast` said."""


def wait(
    transport: Transport,
    inventory: Inventory,
    *,
    timeout_s: float,
    interval_s: float = 5.0,
    check_endpoint: bool = True,
    fail_fast: bool = True,
    on_poll: Callable[[Poll], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    started: float | None = None,
) -> WaitOutcome:
    """Poll until ready, until `timeout_s`, or (with fail_fast) until a step failed for good.

    `started` (a `clock()` value) is when the wait began, when reaching the bastion came first.
    """
    start = clock() if started is None else started
    while True:
        poll = _poll(transport, inventory, check_endpoint, start + timeout_s - clock())
        poll = Poll(clock() - start, poll.states, poll.endpoint, poll.gaps)
        if on_poll is not None:
            on_poll(poll)
        if not poll.gaps:
            return WaitOutcome(True, False, poll)
        if any(s.user_must_fix for s in poll.states.values()):
            return WaitOutcome(False, False, poll, refused=True)
        if fail_fast and any(g.final for g in poll.gaps):
            return WaitOutcome(False, False, poll)
        left = start + timeout_s - clock()
        if left <= 0:
            return WaitOutcome(False, True, poll)
        sleep(min(interval_s, left))


def _poll(transport: Transport, inventory: Inventory, check_endpoint: bool, left_s: float) -> Poll:
    states = probe_all(transport, inventory, min(PROBE_TIMEOUT_S, max(left_s, MIN_PROBE_S)))
    nodes_ready = not any(node_gaps(inventory, s) for s in states.values())
    # The endpoint only matters once the nodes serve; asking earlier costs a timeout per poll.
    endpoint = (
        check(inventory.endpoint_url, min(ENDPOINT_TIMEOUT_S, max(left_s, MIN_PROBE_S)))
        if (check_endpoint and nodes_ready and inventory.endpoint_url)
        else None
    )
    return Poll(0.0, states, endpoint, gaps(inventory, states, endpoint))
