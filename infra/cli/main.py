"""The `gpuform` command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ..catalog.shapes import price_source
from ..stacks import select
from .errors import EXIT_BAD_INPUT, fail, user_errors
from .plan import plan

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


@app.command()
@user_errors
def stacks(stacks_dir: StacksDir = Path("stacks")) -> None:
    """List the stacks as planned: shape x nodes, GPUs, parallelism, engine, model, ~$/hour."""
    from ..synth import settings_for

    table = Table(title=None, show_edge=False)
    columns = ("stack", "shape x nodes", "GPUs", "TP x PP", "replicas", "engine", "model")
    for col in (*columns, "precision", "~$/hour"):
        table.add_column(col, justify="right" if col in ("GPUs", "replicas", "~$/hour") else "left")
    for name, spec in select([], stacks_dir).items():
        s = settings_for(spec)
        shape = spec.nodes.shape_info
        table.add_row(
            name,
            f"{shape.name} x {s.nodes}",
            str(s.nodes * shape.gpus),
            f"{s.tensor_parallel_size} x {s.pipeline_parallel_size}",
            str(s.replicas),
            spec.engine.kind,
            spec.model.id,
            spec.model.precision,
            f"{s.nodes * shape.usd_per_hour:,.2f}",
        )
    out.print(table)
    out.print(f"[dim]Prices: {price_source()}[/dim]")


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
    from ..synth import synth as run_synth

    result = run_synth(select(names or [], stacks_dir), out_dir)
    for name, path in result.stacks.items():
        out.print(f"{name}: {_shown(path)}")


@app.command()
@user_errors
def render(
    name: Annotated[str, typer.Argument(help="Stack name, file stem or path.")],
    node: Annotated[int, typer.Option("--node", help="Node index, 0 is the head.", min=0)] = 0,
    stacks_dir: StacksDir = Path("stacks"),
) -> None:
    """Print the cloud-config node N boots with."""
    from ..errors import UserError
    from ..render.cloud_config import render_cloud_config
    from ..synth import settings_for

    spec = next(iter(select([name], stacks_dir).values()))
    settings = settings_for(spec)
    if node >= settings.nodes:
        raise UserError(
            f"--node = {node}: stack {spec.name!r} has {settings.nodes} node(s); "
            f"use 0 to {settings.nodes - 1}"
        )
    typer.echo(render_cloud_config(spec, node, settings), nl=False)


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


app.command("plan")(plan)


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
