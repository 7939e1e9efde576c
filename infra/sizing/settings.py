"""The engine settings a stack resolves to: what rendering turns into engine flags."""

from __future__ import annotations

from dataclasses import dataclass

from ..specs import SpecError, StackSpec
from .catalog import UnknownModel, catalog, lookup
from .planner import PlanError, Request, plan, why_not


@dataclass(frozen=True)
class EngineSettings:
    """Resolved sizes for one stack's engine."""

    tensor_parallel_size: int
    pipeline_parallel_size: int
    nodes: int
    max_model_len: int | None
    """None leaves the engine's default (Ollama, or a stack that sets nothing)."""
    gpu_memory_fraction: float | None
    """vLLM's gpu_memory_utilization or SGLang's mem_fraction_static; None keeps the default."""


def _request(stack: StackSpec) -> Request:
    try:
        ref = lookup(stack.model.id)
    except UnknownModel:
        known = ", ".join(m.id for m in catalog().values())
        raise SpecError(
            "model.id",
            stack.model.id,
            f"not in the sizing catalog, so no plan can be checked; use one of {known}, "
            "or add infra/catalog/models/<name>.json from its config.json",
        ) from None
    precision = stack.model.precision
    implied = ref.tag_precision
    if implied is not None:
        explicit = "precision" in stack.model.model_fields_set
        same = {precision, implied} <= {"fp16", "bf16"} or precision == implied
        if explicit and not same:
            raise SpecError(
                "model.precision",
                precision,
                f"Ollama tag {ref.ollama_tag} is {ref.gguf_quant} ({implied}); set precision "
                f"{implied!r}, or pick a tag built at {precision}",
            )
        precision = implied
    return Request(
        model=ref,
        engine=stack.engine.kind,
        precision=precision,
        shape=stack.nodes.shape,
        # A count the stack does not set is the planner's to choose.
        nodes=stack.nodes.count if "count" in stack.nodes.model_fields_set else None,
        tp=stack.engine.tensor_parallel_size,
        context=stack.engine.max_model_len,
        memory_fraction=stack.engine.gpu_memory_utilization,
    )


_FIELDS = {
    "tp": "engine.tensor_parallel_size",
    "context": "engine.max_model_len",
    "nodes": "nodes.count",
    "precision": "model.precision",
}


def resolve(stack: StackSpec) -> EngineSettings:
    """Settings for `stack` from the sizing planner; SpecError if it cannot fit.

    Sizes the stack leaves unset (TP, node count, max model length, memory fraction) come
    from the plan; sizes it sets are checked against it. Ollama keeps its own context default.
    """
    req = _request(stack)
    try:
        result = plan(req)
    except PlanError as err:
        raise SpecError(_FIELDS.get(err.field, err.field), err.value, err.fix) from None
    chosen = result.chosen
    if chosen is None:
        target = result.options[0]
        short_kv = target.weights_gb > 0 and "KV cache" in target.reason
        field: str
        value: object
        if short_kv and req.context is not None:
            field, value = "engine.max_model_len", req.context
        elif req.nodes is not None:
            field, value = "nodes.count", req.nodes
        else:
            field, value = "nodes.shape", req.shape
        raise SpecError(field, value, why_not(result))
    engine = stack.engine.kind
    planned_len = None if engine == "ollama" else chosen.max_context
    return EngineSettings(
        tensor_parallel_size=chosen.tp,
        pipeline_parallel_size=chosen.pp,
        nodes=chosen.nodes,
        max_model_len=stack.engine.max_model_len or planned_len,
        gpu_memory_fraction=stack.engine.gpu_memory_utilization or chosen.memory_fraction,
    )
