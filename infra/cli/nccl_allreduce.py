"""`gpuform nccl-test STACK`: print the cluster's all-reduce check, or run it over SSH."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from ..errors import UserError
from .errors import stderr, user_errors

SIZES = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def register(app: typer.Typer) -> None:
    """Add `nccl-test` to the gpuform app."""
    app.command("nccl-test")(nccl_test)


def _size(text: str) -> int:
    unit = text[-1:].upper()
    number = text[:-1] if unit in SIZES else text
    if not number.isdigit() or int(number) == 0:
        raise UserError(f"--bytes = {text!r}: use a size such as 256M or 1G")
    return int(number) * SIZES.get(unit, 1)


@user_errors
def nccl_test(
    stack: Annotated[str, typer.Argument(help="Stack name, file stem or path.")],
    size: Annotated[str, typer.Option("--bytes", help="Message size (K, M, G).")] = "1G",
    iterations: Annotated[int, typer.Option(min=1, max=1000, help="Timed all-reduces.")] = 20,
    run: Annotated[
        bool, typer.Option("--run", help="Run it on the deployed nodes over SSH.")
    ] = False,
    timeout: Annotated[float, typer.Option(min=10, help="Seconds per node when run.")] = 900.0,
    stacks_dir: Annotated[Path, typer.Option("--stacks-dir", file_okay=False)] = Path("stacks"),
    out_dir: Annotated[Path, typer.Option("--out", file_okay=False)] = Path("cdktf.out"),
) -> None:
    """All-reduce over every GPU of each replica (torch.distributed on NCCL/RCCL, in the stack's
    image): bus bandwidth, and whether NCCL used NET/IB (RDMA) or fell back to NET/Socket."""
    from ..nccl_allreduce import script
    from ..node_plan import plan_nodes
    from ..stacks import select
    from ..synth import settings_for

    spec = next(iter(select([stack], stacks_dir).values()))
    plan = plan_nodes(spec, settings_for(spec))
    body = script(plan, spec.image_ref, _size(size), iterations)
    command = f"sudo bash -c {shlex.quote(body)}"
    if not run:
        typer.echo(f"# run as root on every node of {spec.name} at once (gpuform exec does):")
        typer.echo(body, nl=False)
        return
    _run(spec.name, plan[0].context.node.replica_nodes, command, timeout, out_dir)


def _run(stack: str, replica_nodes: int, command: str, timeout: float, out_dir: Path) -> None:
    from ..nccl_allreduce import parse
    from ..ops.fanout import run_all
    from .day2 import BASTION_TIMEOUT_S, Access, connect

    access = Access(stack, out_dir, None, "terraform", None, None)
    inv = access.open()
    with connect(access, inv, BASTION_TIMEOUT_S) as t:
        results = run_all(t, inv.nodes, command, timeout_s=timeout)
    failed = False
    for r in results:
        if r.node.index % replica_nodes:
            failed = failed or not r.result.ok
            continue
        found = parse(r.result.stdout + r.result.stderr)
        if found is None:
            failed = True
            tail = (r.result.error or r.result.stderr or r.result.stdout).strip().splitlines()
            stderr.print(
                f"{r.node.name}: no result ({tail[-1] if tail else 'no output'})", markup=False
            )
            continue
        typer.echo(
            f"{r.node.name}: {found.ranks} ranks, {found.bytes} bytes: "
            f"busbw {found.busbw_gbps:.1f} GB/s, algbw {found.algbw_gbps:.1f} GB/s, "
            f"transport {found.transport}"
        )
        failed = failed or found.transport == "NET/Socket"
    if failed:
        raise typer.Exit(1)
