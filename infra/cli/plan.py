"""`gpuform plan`: which hardware a model needs, computed from its architecture."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from ..catalog.optimizers import OPTIMIZERS, Optimizer, optimizer
from ..catalog.shapes import shapes
from ..engines import ENGINE_KINDS, EngineKind, driver, one_of
from ..errors import UserError
from ..sizing.catalog import ModelRef, UnknownModel, catalog, from_file, lookup
from ..sizing.planner import TASKS, Plan, Request, Result, Task, why_not
from ..sizing.planner import plan as run_plan
from ..sizing.precision import PRECISIONS, Precision
from .errors import fail

_S = TypeVar("_S", bound=str)


def _choice(name: str, value: str | None, allowed: tuple[_S, ...]) -> _S | None:
    if value is None:
        return None
    for a in allowed:
        if value.lower() == a:
            return a
    raise fail(f"--{name} {value!r}: use one of {', '.join(allowed)}")


def _model(name: str, config: Path | None) -> ModelRef:
    if config is not None:
        try:
            return from_file(config, name)
        except ValueError as err:
            raise fail(f"--config {str(config)!r}: {err}") from None
    try:
        return lookup(name)
    except UnknownModel:
        known = ", ".join(m.name for m in catalog().values())
        raise fail(
            f"model {name!r} is not in the catalog; use one of {known}, "
            "an Ollama tag such as deepseek-r1:70b, or --config PATH to a config.json"
        ) from None


def _tag_fixes(ref: ModelRef, engine: EngineKind | None, precision: Precision | None) -> None:
    """An Ollama tag names one GGUF file: its engine and its precision are not the user's pick."""
    if ref.ollama_tag is None:
        return
    gguf = [k for k in ENGINE_KINDS if driver(k).gguf]
    if engine is not None and engine not in gguf:
        raise fail(
            f"--engine {engine!r}: {ref.ollama_tag} is an Ollama tag, which {' or '.join(gguf)} "
            f"serves; drop --engine, or plan {ref.model.id} for {engine}"
        )
    if precision is not None and precision != ref.tag_precision:
        raise fail(
            f"--precision {precision!r}: the Ollama tag {ref.ollama_tag} is {ref.gguf_quant} "
            f"({ref.tag_precision}); drop --precision, or pick a tag of that precision"
        )


def _table(result: Result) -> Table:
    serve = result.request.task == "serve"
    table = Table(show_edge=False, highlight=False)
    need = "need GB per GPU" if result.request.gpus else "need GB"
    cols = ["", "shape x nodes", "GPUs", "TP/PP/EP", "precision", "weights GB", need]
    cols += ["max context", "KV tokens", "seqs"] if serve else ["seq len", "offload", "host GB"]
    cols += ["$/hour", "fits"]
    for c in cols:
        table.add_column(c, justify="left" if c in ("", "shape x nodes", "precision") else "right")
    for o in sorted(result.options, key=lambda o: (not o.fits, o.usd_per_hour)):
        mark = "→" if o is result.chosen else ""
        row = [
            mark,
            f"{o.shape} x {o.nodes}",
            str(o.nodes * o.gpus_per_node if serve else o.gpus),
            f"{o.tp}/{o.pp}/{o.ep}",
            o.precision,
            f"{o.weights_gb:,.1f}",
            f"{o.gpu_memory_gb:,.1f}",
        ]
        if serve:
            row += [f"{o.max_context:,}", f"{o.kv_tokens:,}", str(o.concurrent_seqs)]
        else:
            row += [f"{o.max_context:,}", "Adam" if o.offload else "-"]
            row += [f"{o.host_memory_gb_per_node:,.0f}" if o.offload else "-"]
        row += [f"{o.usd_per_hour:,.2f}", "yes" if o.fits else "no"]
        table.add_row(*row)
    return table


def _refused(result: Result) -> Plan:
    """The option a refusal is about: the shape asked for, else the cheapest, as why_not reads."""
    if result.request.shape:
        return next(o for o in result.options if o.shape == result.request.shape)
    return min(result.options, key=lambda o: o.usd_per_hour)


def _summary(p: Plan, ref: ModelRef) -> str:
    what = (
        f"{ref.model.name} {p.precision} on {p.engine}"
        if p.task == "serve"
        else f"{p.task} fine-tuning of {ref.model.name}"
    )
    if p.optimizer is not None:
        what += f" with {optimizer(p.optimizer).label}"
    line = f"chosen: {what}: {p.describe()}, ${p.usd_per_hour:,.2f}/hour"
    if p.task == "serve":
        line += f", up to {p.max_context:,} tokens of context"
    elif p.gpus < p.nodes * p.gpus_per_node:
        line += f", {p.gpu_memory_gb:,.1f} GB per GPU"
    if p.multi_node:
        line += "; spans nodes, so it needs the RDMA cluster network"
    if p.offload:
        line += f"; Adam in host memory ({p.host_memory_gb_per_node:,.0f} GB per node)"
    return line


def plan(
    model: Annotated[str, typer.Argument(help="Hugging Face id, short name or Ollama tag.")],
    shape: Annotated[str | None, typer.Option(help="Plan on this OCI shape only.")] = None,
    nodes: Annotated[int | None, typer.Option(min=1, max=128, help="Fix the node count.")] = None,
    tp: Annotated[
        int | None, typer.Option(min=1, help="GPUs one replica uses in a node (1: one GPU).")
    ] = None,
    precision: Annotated[
        str | None, typer.Option(help="bf16, fp16, fp8, int8 or int4 (AWQ/GPTQ; GGUF on Ollama).")
    ] = None,
    engine: Annotated[str | None, typer.Option(help=f"{one_of(ENGINE_KINDS)}.")] = None,
    context: Annotated[
        int | None, typer.Option(min=1, help="Context length (serve) or sequence length (train).")
    ] = None,
    task: Annotated[str, typer.Option(help="serve, full, lora or qlora.")] = "serve",
    batch: Annotated[int, typer.Option(min=1, help="Micro-batch per GPU when fine-tuning.")] = 1,
    gpus: Annotated[
        int | None,
        typer.Option(
            min=1, help="Fine-tune on this many GPUs of one node; need GB is then per GPU."
        ),
    ] = None,
    optimizer_name: Annotated[
        str | None,
        typer.Option(
            "--optimizer",
            help="Fine-tuning optimizer: adamw-fused (default), adamw-foreach or adamw-8bit.",
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="Plan from a local config.json instead of the catalog.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plans as JSON.")] = False,
) -> None:
    """Size a model onto OCI GPU shapes: GPUs, TP/PP/EP, context length and $/hour."""
    req = _request(
        model, shape, nodes, tp, precision, engine, context, task, batch, gpus, optimizer_name,
        config,
    )  # fmt: skip
    try:
        result = run_plan(req)
    except UserError as err:
        raise fail(str(err)) from None
    _show(result, req.model, as_json)


def _request(
    model: str,
    shape: str | None,
    nodes: int | None,
    tp: int | None,
    precision: str | None,
    engine: str | None,
    context: int | None,
    task: str,
    batch: int,
    gpus: int | None,
    optimizer_name: str | None,
    config: Path | None,
) -> Request:
    """The planner's request from the command line, every choice checked in one line."""
    if shape is not None and shape not in shapes():
        raise fail(f"--shape {shape!r} is not an OCI GPU shape; use one of {', '.join(shapes())}")
    chosen_task: Task | None = _choice("task", task, TASKS)
    assert chosen_task is not None
    chosen_precision: Precision | None = _choice("precision", precision, PRECISIONS)
    chosen_engine: EngineKind | None = _choice("engine", engine, ENGINE_KINDS)
    chosen_optimizer: Optimizer | None = _choice("optimizer", optimizer_name, tuple(OPTIMIZERS))
    ref = _model(model, config)
    _tag_fixes(ref, chosen_engine, chosen_precision)
    return Request(
        model=ref,
        task=chosen_task,
        engine=chosen_engine,
        precision=chosen_precision,
        shape=shape,
        nodes=nodes,
        tp=tp,
        context=context,
        batch=batch,
        gpus=gpus,
        optimizer=chosen_optimizer,
    )


def _show(result: Result, ref: ModelRef, as_json: bool) -> None:
    """The plans as a table and a summary line, or as JSON; a refusal in one line, exit 2."""
    if result.chosen is None:
        message = why_not(result)
        if as_json:
            # Scripts read how far off the refused plan is; stderr still gets the one line.
            doc = {
                "chosen": None,
                "refused": _refused(result).as_dict(),
                "error": message,
                "options": [o.as_dict() for o in result.options],
            }
            typer.echo(json.dumps(doc, indent=2))
        raise fail(message)
    if as_json:
        doc = {
            "chosen": result.chosen.as_dict(),
            "options": [o.as_dict() for o in result.options],
        }
        typer.echo(json.dumps(doc, indent=2))
        return
    out = Console(highlight=False, width=140)
    out.print(_table(result))
    out.print(_summary(result.chosen, ref), markup=False)
