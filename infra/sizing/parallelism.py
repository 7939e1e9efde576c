"""Which tensor-, pipeline- and expert-parallel sizes a model and engine allow on a shape."""

from __future__ import annotations

from ..catalog.shapes import Shape
from ..engines import EngineKind, driver
from .architecture import Architecture

MAX_NODES = 16
"""The most nodes a plan spreads one replica over; beyond that, plan a cluster by hand."""


def valid_tps(a: Architecture, engine: EngineKind, gpus: int) -> list[int]:
    """Tensor-parallel sizes the engine accepts for this model on `gpus` GPUs, smallest first.

    Engines that split attention heads need TP to divide the head count, and KV heads to
    split evenly or be replicated whole. One that does not (Ollama) puts a model on one GPU if
    it fits, else spreads its layers over all of them.
    """
    if not driver(engine).tensor_parallel:
        return sorted({1, gpus})
    return [
        t
        for t in range(1, gpus + 1)
        if a.attention_heads % t == 0 and (a.kv_heads % t == 0 or t % a.kv_heads == 0)
    ]


def tp_problem(a: Architecture, engine: EngineKind, tp: int, gpus: int) -> str | None:
    """Why `tp` cannot be used, or None."""
    if tp > gpus:
        return f"TP {tp} exceeds the {gpus} GPUs of one node"
    if tp not in valid_tps(a, engine, gpus):
        if not driver(engine).tensor_parallel:
            return f"{engine} uses 1 GPU or all {gpus}, not {tp}"
        return (
            f"TP {tp} does not divide the model's {a.attention_heads} attention heads "
            f"({a.kv_heads} KV heads); use one of {valid_tps(a, engine, gpus)}"
        )
    return None


def expert_parallel(a: Architecture, engine: EngineKind, tp: int) -> int:
    """Expert-parallel size: MoE experts spread over a stage's TP ranks where the engine can.

    EP moves whole experts instead of slicing each one; memory per GPU is the same, but it
    avoids tiny per-GPU expert matrices (DeepSeek's recipe). TGI and Ollama have no EP.
    """
    if a.moe is None or not driver(engine).expert_parallel or tp == 1:
        return 1
    return tp if a.moe.routed_experts % tp == 0 else 1


def max_nodes(shape: Shape, engine: EngineKind) -> int:
    """Nodes one replica may span: only over RDMA, and only with an engine that pipelines."""
    if not shape.rdma or not driver(engine).multi_node:
        return 1
    return MAX_NODES
