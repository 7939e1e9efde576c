"""`gpuform nccl-test`: one all-reduce over every GPU of each replica, and what it says.

The command is rendered from the node plan (templates/commands/nccl-test.sh.j2): the same
script runs on every node, in the stack's own image, with the node's RDMA devices and
/etc/nccl.conf. Bus bandwidth follows nccl-tests' definition for all-reduce
(NVIDIA/nccl-tests doc/PERFORMANCE.md: busbw = algbw x 2(n-1)/n), so figures compare with
published ones; NCCL_DEBUG=INFO's "via NET/IB" or "via NET/Socket" says which transport ran.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from .node_plan import NodePlan
from .render.jinja import environment

TEMPLATE = "commands/nccl-test.sh.j2"
MASTER_PORT = 29511
"""Not torchrun's default 29500, which a training job on the same nodes may hold."""

Transport = Literal["NET/IB", "NET/Socket", "none (one node)"]

_RESULT = re.compile(
    r"gpuform-nccl-test: bytes=(\d+) ranks=(\d+) ms=([\d.]+) algbw_GBps=([\d.]+) "
    r"busbw_GBps=([\d.]+)"
)


@dataclass(frozen=True)
class NcclTestResult:
    """Rank 0's figures and the transport NCCL chose between nodes."""

    bytes: int
    ranks: int
    ms: float
    algbw_gbps: float
    busbw_gbps: float
    transport: Transport


def script(plan: tuple[NodePlan, ...], image: str, size: int, iterations: int) -> str:
    """The bash script every node of `plan` runs (as root) for the test."""
    ctx = plan[0].context
    return (
        environment()
        .get_template(TEMPLATE)
        .render(
            node=ctx.node,
            host=ctx.host,
            paths=ctx.paths,
            rdma=ctx.rdma,
            image=image,
            bytes=size,
            iterations=iterations,
            port=MASTER_PORT,
        )
    )


def parse(output: str) -> NcclTestResult | None:
    """The result in a head's output; None when the run printed none (it failed)."""
    m = _RESULT.search(output)
    if m is None:
        return None
    transport: Transport = "none (one node)"
    if "via NET/Socket" in output:
        transport = "NET/Socket"
    elif "via NET/IB" in output:
        transport = "NET/IB"
    return NcclTestResult(
        bytes=int(m[1]),
        ranks=int(m[2]),
        ms=float(m[3]),
        algbw_gbps=float(m[4]),
        busbw_gbps=float(m[5]),
        transport=transport,
    )
