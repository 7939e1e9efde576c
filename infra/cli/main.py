"""The `gpuform` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ..catalog.shapes import price_source

# Stack files and the spec models load inside the commands that read them (`from ..stacks
# import select`), so the day-2 commands (exec, ssh, status) start without them.
from .errors import EXIT_BAD_INPUT, fail, user_errors
from .nccl_allreduce import register as register_nccl_test
from .ops import register as register_ops
from .plan import plan
from .weights import register as register_weights

app = typer.Typer(
    name="gpuform",
    help="Typed stacks for DeepSeek-class models on OCI GPUs, synthesized to Terraform.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Piped output (grep, less, CI logs) gets whole rows instead of rich's 80-column fallback.
out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)

StacksDir = Annotated[
    Path, typer.Option("--stacks-dir", help="Folder of stack files.", file_okay=False)
]
StackNames = Annotated[
    list[str] | None,
    typer.Argument(help="Stack names (deployment name or file stem) or paths to .py files."),
]


JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@app.command()
@user_errors
def stacks(stacks_dir: StacksDir = Path("stacks"), as_json: JsonFlag = False) -> None:
    """List the stacks as planned: shape x nodes, GPUs, parallelism, engine, model, ~$/hour."""
    from ..stack_summary import summarize
    from ..stacks import select

    rows = [summarize(spec) for spec in select([], stacks_dir).values()]
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in rows], indent=2))
        return
    table = Table(title=None, show_edge=False)
    columns = ("stack", "shape x nodes", "GPUs", "TP/PP/EP", "replicas", "engine", "model")
    for col in (*columns, "precision", "~$/hour"):
        table.add_column(col, justify="right" if col in ("GPUs", "replicas", "~$/hour") else "left")
    for r in rows:
        table.add_row(
            r.stack,
            f"{r.shape} x {r.nodes}",
            str(r.gpus),
            f"{r.tp}/{r.pp}/{r.ep}",
            str(r.replicas),
            r.engine,
            r.model,
            r.precision,
            f"{r.usd_per_hour:,.2f}",
        )
    out.print(table)
    out.print(f"[dim]Prices: {price_source()}[/dim]")


@app.command()
@user_errors
def nodes(
    name: Annotated[str, typer.Argument(help="Stack name, file stem or path.")],
    stacks_dir: StacksDir = Path("stacks"),
    as_json: JsonFlag = False,
) -> None:
    """Print the node plan: each node's role, replica, head, stage-0 user_data, bundle and steps."""
    from ..node_plan import plan_nodes, pool_stage0
    from ..stacks import select
    from ..synth import settings_for

    spec = next(iter(select([name], stacks_dir).values()))
    plan = plan_nodes(spec, settings_for(spec))
    # A cluster network's nodes all boot one stage 0; each compute-cluster node its own.
    pooled = plan[0].placement == "cluster_network"
    shared = f"{len(pool_stage0(plan).user_data_b64):,} B shared" if pooled else ""
    if as_json:
        typer.echo(json.dumps([n.as_dict() for n in plan], indent=2))
        return
    table = Table(show_edge=False)
    columns = ("node", "name", "role", "replica", "head", "ray", "user_data", "bundle", "size")
    for col in (*columns, "steps"):
        table.add_column(
            col, justify="right" if col in ("node", "replica", "head", "size") else "left"
        )
    for n in plan:
        table.add_row(
            str(n.index),
            n.display_name,
            n.role,
            str(n.replica),
            str(n.head),
            n.ray_role or "-",
            shared or f"{len(n.user_data_b64):,} B",
            n.bundle.sha256[:12],
            f"{n.bundle.size:,} B",
            " ".join(u.removeprefix("gpuform-").removesuffix(".service") for u in n.steps),
        )
    out.print(table)
    out.print(
        "[dim]bundle: sha256 (first 12 of 64; --json has all), size: the gzip archive; "
        "object bundle-SHA256.tgz.b64 in the stack's boot bucket[/dim]"
    )


@app.command()
@user_errors
def synth(
    names: StackNames = None,
    out_dir: Annotated[
        Path, typer.Option("--out", help="Output folder (cdktf's layout).", file_okay=False)
    ] = Path("cdktf.out"),
    stacks_dir: StacksDir = Path("stacks"),
) -> None:
    """Synthesize stacks to Terraform JSON (all of them by default); nothing is written on error."""
    from ..stacks import select, stack_paths
    from ..synth import synth as run_synth

    chosen = names or []
    result = run_synth(select(chosen, stacks_dir), out_dir, stack_paths(chosen, stacks_dir))
    for name, path in result.stacks.items():
        out.print(f"{name}: {_shown(path)}")


@app.command()
@user_errors
def render(
    name: Annotated[str, typer.Argument(help="Stack name, file stem or path.")],
    node: Annotated[int, typer.Option("--node", help="Node index, 0 is the head.", min=0)] = 0,
    stacks_dir: StacksDir = Path("stacks"),
    stage0: Annotated[
        bool, typer.Option("--stage0", help="Print the stage-0 user_data itself, unzipped.")
    ] = False,
) -> None:
    """Print what node N ends up with: one cloud-config writing every file of its bundle (its
    user_data is stage 0, which fetches that bundle; --stage0 prints it as shipped)."""
    from ..errors import UserError
    from ..node_plan import plan_nodes, pool_stage0
    from ..stacks import select
    from ..synth import settings_for

    spec = next(iter(select([name], stacks_dir).values()))
    plan = plan_nodes(spec, settings_for(spec))
    if node >= len(plan):
        raise UserError(
            f"--node = {node}: stack {spec.name!r} has {len(plan)} node(s); "
            f"use 0 to {len(plan) - 1}"
        )
    n = plan[node]
    boot = pool_stage0(plan) if n.placement == "cluster_network" else n.stage0
    if stage0:
        typer.echo(boot.cloud_config, nl=False)
        return
    full = n.cloud_config.split("\n", 1)
    note = (
        f"# Node {node}'s user_data is stage 0 ({len(boot.user_data_b64):,} B base64: "
        f"--stage0 prints it), which installs bundle {n.bundle.sha256} ({n.bundle.size:,} B): "
        "this cloud-config writes the same files."
    )
    typer.echo(f"{full[0]}\n{note}\n{full[1]}", nl=False)


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


app.command("plan")(plan)
register_weights(app)
register_ops(app)
register_nccl_test(app)


def main() -> None:
    """The console script: usage errors too end as one line and exit code 2."""
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        raise SystemExit(130) from None
    except Exception as err:
        # Usage errors (bad option values, unknown options) are click's UsageError, vendored
        # privately in recent typer: recognised by what every version gives them instead.
        if getattr(err, "exit_code", None) != EXIT_BAD_INPUT or not hasattr(err, "format_message"):
            raise
        ctx = getattr(err, "ctx", None)
        if type(err).__name__ == "NoArgsIsHelpError" and ctx is not None:
            typer.echo(ctx.get_help())
            raise SystemExit(EXIT_BAD_INPUT) from None
        command = ctx.command_path if ctx is not None else "gpuform"
        raise SystemExit(
            fail(f"{err.format_message().rstrip('.')}; see `{command} --help`").exit_code
        ) from None
    raise SystemExit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
