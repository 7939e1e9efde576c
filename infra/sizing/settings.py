"""The sizes a stack resolves to (StackSizes): its nodes' layout, and for serving the engine's
context and memory share, which rendering turns into engine flags."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NoReturn

from ..engines import Topology, driver
from ..errors import UserError
from ..specs import AnyStack, StackSpec, TrainingStackSpec
from .catalog import ModelRef, UnknownModel, catalog, lookup
from .planner import Labels, Request, Result, plan, why_not

#: A stack's fields as the user wrote them, for refusals of its plan.
SPEC_LABELS = Labels(
    tp="engine.tensor_parallel_size",
    context="engine.max_model_len",
    nodes="nodes.count",
    precision="model.precision",
)


@dataclass(frozen=True)
class StackSizes:
    """What the sizing planner resolved one stack to, serving or training alike.

    `topology` is the layout of one replica (TP, PP, EP, nodes per replica) and how many
    replicas run side by side (data parallel), each with its own head behind the load balancer;
    a training stack is one replica of every node. Memory, KV tokens and the engine's flags all
    come from it.
    """

    topology: Topology
    max_model_len: int | None
    """None leaves the engine's default (Ollama, or a stack that sets nothing); always None for
    a training stack, which has no engine."""
    gpu_memory_fraction: float | None
    """vLLM's gpu_memory_utilization or SGLang's mem_fraction_static; None keeps the default
    (and for a training stack)."""

    @property
    def nodes(self) -> int:
        """Nodes the stack creates: replicas x nodes per replica."""
        return self.topology.nodes


#: A training stack's fields as the user wrote them.
TRAINING_LABELS = Labels(
    tp="training.tensor_parallel_size",
    context="training.seq_len",
    nodes="nodes.count",
    precision="model.precision",
    optimizer="training.optimizer",
)


def _model_ref(model_id: str) -> ModelRef:
    try:
        return lookup(model_id)
    except UnknownModel:
        known = ", ".join(m.id for m in catalog().values())
        raise UserError.at(
            "model.id",
            model_id,
            f"not in the sizing catalog, so no plan can be checked; use one of {known}, "
            "or add infra/catalog/models/<name>.json from its config.json",
        ) from None


def _request(stack: StackSpec) -> Request:
    ref = _model_ref(stack.model.id)
    precision = stack.model.precision
    implied = ref.tag_precision
    if implied is not None:
        explicit = "precision" in stack.model.model_fields_set
        same = {precision, implied} <= {"fp16", "bf16"} or precision == implied
        if explicit and not same:
            raise UserError.at(
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
        labels=SPEC_LABELS,
    )


def resolve(stack: AnyStack) -> StackSizes:
    """Settings for `stack` from the sizing planner; UserError if it cannot fit.

    A training stack gets its nodes as one cluster (see `resolve_training`).

    Sizes the stack leaves unset (TP, node count, max model length, memory fraction) come
    from the plan; sizes it sets are checked against it. An engine with a context default of
    its own (Ollama) keeps it. One replica gets the fewest nodes of the stack's shape that
    hold the model; a stack that sets more nodes than that runs several replicas, so its count
    must be a multiple.
    """
    if isinstance(stack, TrainingStackSpec):
        return resolve_training(stack)
    req = _request(stack)
    wanted = req.nodes
    one_replica = plan(replace(req, nodes=None))
    chosen = one_replica.chosen
    if chosen is None or (wanted is not None and wanted < chosen.nodes):
        # Plan again at the stack's own count, so the refusal speaks of what the user wrote.
        _refuse(plan(req) if wanted is not None else one_replica, req)
    assert chosen is not None and chosen.topology is not None
    replicas = 1
    if wanted is not None:
        if wanted % chosen.nodes:
            raise UserError.at(
                "nodes.count",
                wanted,
                f"one replica of {stack.model.short_name} spans {chosen.nodes} x "
                f"{stack.nodes.shape}; use a multiple of {chosen.nodes}",
            )
        replicas = wanted // chosen.nodes
    keeps_own = driver(stack.engine.kind).memory.default_context is not None
    planned_len = None if keeps_own else chosen.max_context
    return StackSizes(
        topology=chosen.topology.with_replicas(replicas),
        max_model_len=stack.engine.max_model_len or planned_len,
        gpu_memory_fraction=stack.engine.gpu_memory_utilization or chosen.memory_fraction,
    )


def resolve_training(stack: TrainingStackSpec) -> StackSizes:
    """One cluster of every node, checked by the planner: GPU memory per rank and, when Adam
    moves to host memory, the host memory of each node; UserError if it does not fit.

    The planner models ZeRO-3 (or Megatron's distributed optimizer) over every GPU; the
    stack's TP/PP/EP are the launcher's and leave the per-GPU total about the same.
    """
    t = stack.training
    explicit = "precision" in stack.model.model_fields_set
    req = Request(
        model=_model_ref(stack.model.id),
        task=t.task,
        precision=stack.model.precision if explicit else None,
        shape=stack.nodes.shape,
        nodes=stack.nodes.count,
        context=t.seq_len,
        batch=t.micro_batch,
        optimizer=t.optimizer,
        labels=TRAINING_LABELS,
    )
    result = plan(req)
    if result.chosen is None:
        raise UserError.at("nodes.count", stack.nodes.count, why_not(result))
    gpus = stack.nodes.shape_info.gpus
    model_parallel = t.tensor_parallel_size * t.pipeline_parallel_size
    topology = Topology(
        tp=t.tensor_parallel_size,
        pp=t.pipeline_parallel_size,
        ep=t.expert_parallel_size,
        nodes_per_replica=stack.nodes.count,
        gpus_per_node=gpus,
        dp=stack.nodes.count * gpus // model_parallel,
    )
    return StackSizes(topology=topology, max_model_len=None, gpu_memory_fraction=None)


def _refuse(result: Result, req: Request) -> NoReturn:
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
    raise UserError.at(field, value, why_not(result))
