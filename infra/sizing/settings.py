"""The engine settings a stack resolves to: what rendering turns into engine flags."""

from __future__ import annotations

from dataclasses import dataclass

from ..specs import StackSpec


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


def resolve(stack: StackSpec) -> EngineSettings:
    """Settings for `stack`: its explicit values, else one replica across each node's GPUs.

    The sizing planner replaces these defaults with computed ones and checks explicit values.
    """
    shape = stack.nodes.shape_info
    return EngineSettings(
        tensor_parallel_size=stack.engine.tensor_parallel_size or shape.gpus,
        pipeline_parallel_size=stack.nodes.count,
        nodes=stack.nodes.count,
        max_model_len=stack.engine.max_model_len,
        gpu_memory_fraction=stack.engine.gpu_memory_utilization,
    )
