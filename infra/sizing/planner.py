"""The planner: every shape and node count a model could run on, which fit, and the cheapest."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from ..catalog.optimizers import DEFAULT_OPTIMIZER, Optimizer, optimizer
from ..catalog.shapes import Shape, get_shape, shapes
from ..engines import EngineKind, Topology, default_kind, driver, kinds, one_of
from ..errors import UserError
from .catalog import ModelRef
from .cost import usd_per_hour
from .finetune import GPU_USABLE, HOST_USABLE, TrainTask, gpu_bytes, train_memory
from .memory import (
    GB,
    activation_bytes,
    kv_bytes_per_token,
    kv_bytes_per_token_per_gpu,
    overhead_bytes,
    weight_bytes,
)
from .parallelism import expert_parallel, max_nodes, tp_problem, valid_tps
from .params import ParamCount, count
from .precision import PRECISIONS, Precision, bits_rank

Task = Literal["serve", "full", "lora", "qlora"]
TASKS: tuple[Task, ...] = ("serve", "full", "lora", "qlora")
GIB = 2**30
MIN_CONTEXT = 4096
"""A plan must hold at least one sequence this long (or the model's maximum, if shorter)."""


@dataclass(frozen=True)
class Labels:
    """How the user wrote each request field, so a refusal names what they typed."""

    tp: str = "--tp"
    context: str = "--context"
    nodes: str = "--nodes"
    precision: str = "--precision"
    gpus: str = "--gpus"
    optimizer: str = "--optimizer"


CLI_LABELS = Labels()


@dataclass(frozen=True)
class Request:
    """What to plan; None means the planner chooses."""

    model: ModelRef
    task: Task = "serve"
    engine: EngineKind | None = None
    precision: Precision | None = None
    shape: str | None = None
    nodes: int | None = None
    tp: int | None = None
    context: int | None = None
    memory_fraction: float | None = None
    batch: int = 1
    gpus: int | None = None
    """Fine-tune on this many GPUs of one node; None: every GPU of the nodes planned."""
    optimizer: Optimizer | None = None
    """The fine-tune's optimizer; None: DEFAULT_OPTIMIZER."""
    labels: Labels = CLI_LABELS

    @property
    def chosen_optimizer(self) -> Optimizer:
        return self.optimizer or DEFAULT_OPTIMIZER

    @property
    def engine_kind(self) -> EngineKind:
        if self.engine is not None:
            return self.engine
        return default_kind(pulls_model=self.model.ollama_tag is not None)

    @property
    def chosen_precision(self) -> Precision:
        if self.task == "qlora":
            return "int4"
        if self.task in ("full", "lora"):
            return self.precision or "bf16"
        if self.precision is not None:
            return self.precision
        if self.model.tag_precision is not None:
            return self.model.tag_precision
        if driver(self.engine_kind).gguf:
            return "int4"  # a GGUF engine's default pull is Q4_K_M
        return self.model.model.native_precision


@dataclass(frozen=True)
class Plan:
    """One way to run the task: hardware, parallelism, memory, context and price."""

    model: str
    task: Task
    shape: str
    nodes: int
    gpus_per_node: int
    tp: int
    pp: int
    ep: int
    precision: Precision
    engine: EngineKind
    weights_gb: float
    kv_bytes_per_token: int
    gpu_memory_gb: float
    """All the GPU memory the task needs, over every GPU it uses; per GPU when the request
    fixes `gpus` (a fine-tune on part of a node), which is then what `fits` is judged on."""
    max_context: int
    kv_tokens: int
    """Tokens the KV cache of one replica holds."""
    context: int
    """The context the plan was checked for."""
    concurrent_seqs: int
    """Sequences of `context` tokens the KV cache holds at once."""
    memory_fraction: float | None
    usd_per_hour: float
    fits: bool
    reason: str
    """Why it does not fit; empty when it does."""
    multi_node: bool
    offload: bool = False
    host_memory_gb_per_node: float = 0.0
    topology: Topology | None = None
    """How the engine lays out one replica (serving plans only)."""
    gpus: int = 0
    """GPUs the plan uses: one serving replica's, or a fine-tune's (the request's `gpus`, else
    every GPU of its nodes)."""
    optimizer: Optimizer | None = None
    """The optimizer a fine-tuning plan assumes (optimizers.py); None for serving."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """`2 x BM.GPU.H100.8 (TP 8, PP 2)`."""
        if self.task != "serve":
            if self.gpus < self.nodes * self.gpus_per_node:
                return (
                    f"{self.nodes} x {self.shape} ({_gpus(self.gpus)} of its {self.gpus_per_node})"
                )
            return f"{self.nodes} x {self.shape} (ZeRO-3 over {self.gpus} GPUs)"
        assert self.topology is not None
        return f"{self.nodes} x {self.shape} ({self.topology.describe()})"


@dataclass(frozen=True)
class Result:
    """The options considered (one per shape) and the cheapest that fits, if any."""

    request: Request
    options: tuple[Plan, ...]
    chosen: Plan | None


def _gb(n: float) -> float:
    return round(n / GB, 1)


def _gpus(n: int) -> str:
    return f"{n} GPU" if n == 1 else f"{n} GPUs"


def _serve_refusal(
    weights: int, gpus: int, usable: float, mem: int, kv_tokens: int, context: int
) -> str:
    """Why a replica's weights or its context do not fit what the engine may use, or ""."""
    w_gpu = math.ceil(weights / gpus)
    if w_gpu > usable:
        return (
            f"{_gb(weights)} GB of weights over {gpus} GPU{'s' if gpus > 1 else ''} is "
            f"{_gb(w_gpu)} GB each, past the {_gb(usable)} GB the engine may use of "
            f"{_gb(mem)} GB"
        )
    if kv_tokens < context:
        return (
            f"the KV cache left over holds {kv_tokens} tokens, fewer than a {context}-token context"
        )
    return ""


def _serve(
    req: Request, p: ParamCount, shape: Shape, nodes: int, gpus_per_node: int, context: int
) -> Plan:
    a = req.model.model.arch
    engine = req.engine_kind
    memory = driver(engine).memory
    precision = req.chosen_precision
    topo = _topology(req, nodes, gpus_per_node)
    gpus = topo.gpus_per_replica
    reason = _topology_problem(req, topo)
    try:
        weights = weight_bytes(p, precision, engine, req.model.gguf_quant)
    except ValueError as err:
        weights, reason = 0, reason or str(err)
    kv_token = kv_bytes_per_token(a, engine)
    kv_gpu = kv_bytes_per_token_per_gpu(a, engine, topo)
    w_gpu = math.ceil(weights / gpus)
    act = activation_bytes(a, engine, topo.tp, shape) + overhead_bytes(engine)
    # What the driver reports a process can use, in bytes: engines size their KV cache from it.
    mem = shape.gpu_memory_bytes
    frac = req.memory_fraction or memory.default_fraction(mem / GIB, topo)
    if memory.fraction_covers_activations:
        kv_budget = frac * mem - w_gpu - act
    else:
        kv_budget = frac * mem - w_gpu
        if not reason and (1 - frac) * mem < act:
            reason = (
                f"a memory fraction of {frac} leaves {_gb((1 - frac) * mem)} GB per GPU for "
                f"activations and CUDA graphs, which need {_gb(act)} GB; lower it"
            )
    kv_tokens = max(0, math.floor(kv_budget / kv_gpu))
    max_context = min(a.max_position_embeddings, kv_tokens)
    reason = reason or _serve_refusal(weights, gpus, frac * mem, mem, kv_tokens, context)
    need = gpus * (w_gpu + act + kv_gpu * context)
    return Plan(
        model=req.model.model.id if not req.model.ollama_tag else req.model.ollama_tag,
        task="serve",
        shape=shape.name,
        nodes=nodes,
        gpus_per_node=shape.gpus,
        tp=topo.tp,
        pp=topo.pp,
        ep=topo.ep,
        precision=precision,
        engine=engine,
        weights_gb=_gb(weights),
        kv_bytes_per_token=kv_token,
        gpu_memory_gb=_gb(need),
        max_context=max_context,
        kv_tokens=kv_tokens,
        context=context,
        concurrent_seqs=kv_tokens // context if context else 0,
        memory_fraction=frac if memory.reports_fraction else None,
        usd_per_hour=usd_per_hour(shape, nodes),
        fits=not reason,
        reason=reason,
        multi_node=nodes > 1,
        topology=topo,
        gpus=gpus,
    )


def _topology(req: Request, nodes: int, gpus_per_node: int) -> Topology:
    """The engine's layout of one replica, with EP where the model and engine allow it."""
    engine = req.engine_kind
    topo = driver(engine).topology(gpus_per_node, nodes)
    return replace(topo, ep=expert_parallel(req.model.model.arch, engine, topo.tp))


def _topology_problem(req: Request, topo: Topology) -> str:
    """Why the engine cannot split this model so (a TP group spanning nodes must divide heads)."""
    a = req.model.model.arch
    if topo.tp > 1 and a.attention_heads % topo.tp:
        return (
            f"{req.engine_kind} splits attention heads over TP {topo.tp}, which does not divide "
            f"the model's {a.attention_heads} heads"
        )
    return ""


def _train_refusal(
    shape: Shape, gpus: int, opt: Optimizer, per_gpu: float, offload: bool, host: float
) -> str:
    """Why a fine-tune does not fit one GPU or the host of `shape`, or "" where it does."""
    mem = shape.gpu_memory_bytes
    if per_gpu > GPU_USABLE * mem:
        return (
            f"needs {_gb(per_gpu)} GB per GPU over {_gpus(gpus)} with "
            f"{optimizer(opt).label}{', its states offloaded to host' if offload else ''}; "
            f"{shape.name} has {_gb(mem)} GB per GPU, of which the plan keeps "
            f"{_gb((1 - GPU_USABLE) * mem)} GB as margin"
        )
    if host > HOST_USABLE * shape.host_memory_gb * GB:
        return (
            f"offloaded Adam states need {_gb(host)} GB of host memory per node; "
            f"{shape.name} has {shape.host_memory_gb} GB"
        )
    return ""


def _train(req: Request, p: ParamCount, shape: Shape, nodes: int, seq: int) -> Plan:
    """ZeRO-3 (FSDP) over every GPU; for full fine-tuning, Adam offloaded to host if needed."""
    a = req.model.model.arch
    task: TrainTask = req.task  # type: ignore[assignment]
    opt = req.chosen_optimizer
    tm = train_memory(p, task, a, opt)
    gpus = req.gpus or nodes * shape.gpus
    # What the driver reports a process can use, in bytes (not the marketing "80 GB").
    mem = shape.gpu_memory_bytes
    per_gpu = gpu_bytes(a, tm, seq, req.batch, gpus)
    offload = False
    host = 0.0
    reason = ""
    if req.gpus and req.gpus > shape.gpus:
        reason = (
            f"{shape.name} has {_gpus(shape.gpus)} per node, fewer than {req.labels.gpus} {gpus}"
        )
    elif per_gpu > GPU_USABLE * mem and tm.offloadable:
        offload = True
        per_gpu = gpu_bytes(a, tm, seq, req.batch, gpus, offload=True)
        host = tm.offloadable / nodes
    reason = reason or _train_refusal(shape, gpus, opt, per_gpu, offload, host)
    return Plan(
        model=req.model.model.id,
        task=req.task,
        shape=shape.name,
        nodes=nodes,
        gpus_per_node=shape.gpus,
        tp=1,
        pp=1,
        ep=1,
        precision=req.chosen_precision,
        engine=req.engine_kind,
        weights_gb=_gb(tm.weights),
        kv_bytes_per_token=kv_bytes_per_token(a, "vllm"),
        gpu_memory_gb=_gb(per_gpu if req.gpus else gpus * per_gpu),
        max_context=seq,
        kv_tokens=0,
        context=seq,
        concurrent_seqs=req.batch,
        memory_fraction=None,
        usd_per_hour=usd_per_hour(shape, nodes),
        fits=not reason,
        reason=reason,
        multi_node=nodes > 1,
        offload=offload,
        host_memory_gb_per_node=_gb(host),
        gpus=gpus,
        optimizer=opt,
    )


def _context(req: Request) -> int:
    a = req.model.model.arch
    if req.context is not None:
        if req.context > a.max_position_embeddings:
            raise UserError.at(
                req.labels.context,
                req.context,
                f"{req.model.model.name} handles at most {a.max_position_embeddings} tokens "
                "(max_position_embeddings); ask for that or less",
            )
        return req.context
    default = driver(req.engine_kind).memory.default_context or MIN_CONTEXT
    return min(default, a.max_position_embeddings)


def _check_training(req: Request) -> None:
    """--gpus and --optimizer belong to fine-tuning, and --gpus to one node."""
    if req.task == "serve":
        for label, value in ((req.labels.gpus, req.gpus), (req.labels.optimizer, req.optimizer)):
            if value is not None:
                raise UserError.at(
                    label,
                    value,
                    "applies to fine-tuning; add --task full, lora or qlora, or drop it",
                )
        return
    if req.gpus is None:
        return
    if req.nodes is not None and req.nodes > 1:
        raise UserError.at(
            req.labels.gpus,
            req.gpus,
            f"plans GPUs of one node, not {req.nodes} nodes; "
            f"drop {req.labels.nodes} or {req.labels.gpus}",
        )
    if req.shape is not None and req.gpus > get_shape(req.shape).gpus:
        have = get_shape(req.shape).gpus
        raise UserError.at(
            req.labels.gpus, req.gpus, f"{req.shape} has {_gpus(have)} per node; use 1 to {have}"
        )


def _check(req: Request) -> None:
    _check_training(req)
    if req.task != "serve" and req.tp is not None:
        raise UserError.at(
            req.labels.tp, req.tp, "fine-tuning shards with ZeRO-3 over every GPU; drop --tp for it"
        )
    if req.task == "qlora" and req.precision not in (None, "int4"):
        raise UserError.at(
            req.labels.precision, req.precision, "QLoRA trains on a 4-bit base; use int4"
        )
    if req.task in ("full", "lora") and req.precision not in (None, "bf16", "fp16"):
        raise UserError.at(
            req.labels.precision,
            req.precision,
            f"{req.task} trains in 16 bit; use bf16, or --task qlora",
        )
    e = req.engine_kind
    serving = req.task == "serve"
    if serving and req.nodes is not None and req.nodes > 1 and not driver(e).multi_node:
        spanning = one_of(kinds(lambda d: d.multi_node))
        raise UserError.at(
            req.labels.nodes,
            req.nodes,
            f"{e} serves from one node; use 1, or an engine that spans nodes: {spanning}",
        )
    layers = req.model.model.arch.layers
    if serving and req.nodes is not None and req.nodes > layers:
        # Each pipeline stage needs at least one layer; engines refuse more stages than layers.
        raise UserError.at(
            req.labels.nodes,
            req.nodes,
            f"{req.model.model.name} has {layers} layers, so one pipeline spans at most {layers} "
            "nodes; use fewer (a second replica is a second stack)",
        )


def _for_shape(req: Request, p: ParamCount, shape: Shape, context: int) -> Plan:
    """The first plan on `shape` that fits, trying node counts (and Ollama's GPU counts) up."""
    a = req.model.model.arch
    engine = req.engine_kind
    if req.task != "serve":
        limit = 1 if req.gpus else max_nodes(shape, "vllm")
        counts = [req.nodes] if req.nodes else list(range(1, limit + 1))
        trained = [_train(req, p, shape, n, context) for n in counts]
        return next((t for t in trained if t.fits), trained[0])
    if req.tp is not None:
        problem = tp_problem(a, engine, req.tp, shape.gpus)
        if problem:
            raise UserError.at(req.labels.tp, req.tp, problem)
        tps = [req.tp]
    elif not driver(engine).tensor_parallel:
        tps = valid_tps(a, engine, shape.gpus)  # one GPU if the model fits there, else all
    else:
        tps = [max(valid_tps(a, engine, shape.gpus))]  # use the whole node you pay for
    counts = [req.nodes] if req.nodes else list(range(1, max_nodes(shape, engine) + 1))
    first: Plan | None = None
    for n in counts:
        for tp in tps:
            plan = _serve(req, p, shape, n, tp, context)
            if plan.fits:
                return plan
            first = first or plan
    assert first is not None
    return first


def plan(req: Request) -> Result:
    """Plan `req` on every shape (or the one asked for) and choose the cheapest that fits.

    Ties go to the longer context, then to fewer nodes. Raises UserError for a malformed
    request; a request that is merely too big comes back with `chosen` None.
    """
    _check(req)
    p = count(req.model.model.arch)
    context = _context(req)
    names = [req.shape] if req.shape else list(shapes())
    options = tuple(_for_shape(req, p, get_shape(n), context) for n in names)
    fitting = [o for o in options if o.fits]
    chosen = min(fitting, key=lambda o: (o.usd_per_hour, -o.max_context, o.nodes), default=None)
    return Result(req, options, chosen)


def nearest(req: Request) -> Plan | None:
    """The closest plan that fits when `req` does not: relax GPUs, nodes, TP, shape, then
    precision."""
    more_gpus = [replace(req, gpus=g) for g in (2, 4, 8) if req.gpus and g > req.gpus]
    if req.gpus:
        more_gpus.append(replace(req, gpus=None))
    tries = [
        *more_gpus,
        replace(req, nodes=None),
        replace(req, nodes=None, tp=None),
        replace(req, nodes=None, tp=None, shape=None),
    ]
    if req.task == "serve":
        here = bits_rank(req.chosen_precision)
        lower = [q for q in PRECISIONS if bits_rank(q) < here and q != "fp16"]
        tries += [replace(req, nodes=None, tp=None, shape=None, precision=q) for q in lower]
        tries.append(replace(req, nodes=None, tp=None, shape=None, precision="int4", context=None))
    for t in tries:
        try:
            chosen = plan(t).chosen
        except UserError:
            continue
        if chosen is not None:
            return chosen
    return None


def why_not(result: Result) -> str:
    """One line: why the request does not fit and what would (the nearest plan)."""
    req = result.request
    name = req.model.model.name
    precision = req.chosen_precision
    # The option the user pointed at: their shape, or the cheapest they could have meant.
    target = min(result.options, key=lambda o: o.usd_per_hour)
    if req.shape:
        target = next(o for o in result.options if o.shape == req.shape)
    shape = get_shape(target.shape)
    total = target.nodes * shape.total_gpu_memory_bytes
    if target.weights_gb * GB > total:
        head = (
            f"{name} {precision} needs about {target.weights_gb:.0f} GB for weights alone; "
            f"{target.nodes} x {shape.name} has {total / GB:.0f} GB"
        )
    else:
        head = f"{name} {precision} on {target.describe()}: {target.reason}"
    fixes: list[str] = []
    same = nearest(replace(req, shape=target.shape))
    if same is not None and same.shape == target.shape and same.precision == precision:
        if same.nodes != target.nodes:
            fixes.append(f"{same.nodes} nodes")
        elif same.gpus != target.gpus:
            fixes.append(f"{req.labels.gpus} {same.gpus}")
        else:
            fixes.append(same.describe())
    other = nearest(replace(req, shape=None, nodes=req.nodes))
    if other is not None and other.shape != target.shape:
        label = other.shape if other.nodes == 1 else f"{other.nodes} x {other.shape}"
        if other.precision != precision:
            label += f" at {other.precision}"
        fixes.append(label)
    if not fixes:
        return f"{head}; no shape in the catalog fits it, even at int4"
    return f"{head}: use {' or '.join(fixes)}"
