"""One row per stack as planned: what `gpuform stacks` prints, as a table or JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .specs import AnyStack, StackSpec
from .synth import settings_for


@dataclass(frozen=True)
class StackRow:
    """A stack's hardware, parallelism, engine, model and approximate price."""

    stack: str
    shape: str
    nodes: int
    gpus: int
    tp: int
    pp: int
    ep: int
    replicas: int
    engine: str
    """The serving engine, or `train:<launcher>` for a training cluster."""
    model: str
    precision: str
    usd_per_hour: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(spec: AnyStack) -> StackRow:
    """The planned row of `spec`; UserError when it cannot be planned."""
    topo = settings_for(spec).topology
    shape = spec.nodes.shape_info
    return StackRow(
        stack=spec.name,
        shape=shape.name,
        nodes=topo.nodes,
        gpus=topo.nodes * shape.gpus,
        tp=topo.tp,
        pp=topo.pp,
        ep=topo.ep,
        replicas=topo.replicas,
        engine=spec.engine.kind
        if isinstance(spec, StackSpec)
        else f"train:{spec.training.launcher}",
        model=spec.model.id,
        precision=spec.model.precision,
        usd_per_hour=round(topo.nodes * shape.usd_per_hour, 2),
    )
