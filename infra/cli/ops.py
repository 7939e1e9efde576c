"""Day-2 commands: ssh, ssh-config, exec, logs, wait and status on a deployed stack."""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live

from ..ops import exits, paths, views
from ..ops.fanout import NodeResult, run_all, summary
from ..ops.inventory import Inventory, Node
from ..ops.journal import journal_command
from ..ops.select import SELECTOR_HELP, one, select
from ..ops.sshconfig import include_line
from ..ops.status import gather
from ..ops.transport import Stream
from ..ops.wait import Poll
from ..ops.wait import wait as wait_ready
from .day2 import BASTION_TIMEOUT_S, Access, connect, day2, seconds
from .errors import stderr

out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
NoEndpoint = Annotated[
    bool, typer.Option("--no-endpoint", help="Do not ask the endpoint's /v1/models.")
]


@day2
def ssh(
    access: Access,
    node: Annotated[
        str | None, typer.Argument(help="Node index, name or hostname, or `bastion`.")
    ] = None,
) -> None:
    """An interactive shell on a node (node 0 by default) through the bastion, with system ssh."""
    inv = access.open()
    config = access.ssh_config(inv)
    alias = config.bastion_alias if node == "bastion" else one(inv, node or "0").name
    raise typer.Exit(config.interactive(alias))


@day2
def ssh_config(
    access: Access,
    directory: Annotated[
        Path | None,
        typer.Option("--dir", file_okay=False, help="Where to write <stack>.conf."),
    ] = None,
) -> None:
    """Write Host entries (<stack>-bastion, <stack>-node-N) for plain ssh, scp and rsync."""
    inv = access.open()
    config = access.ssh_config(inv)
    folder = directory or paths.ssh_config_dir()
    path = config.write(folder / f"{access.stack}.conf")
    hosts = [config.bastion_alias, *(n.name for n in inv.nodes)]
    shown = ", ".join(hosts[:4]) + (", ..." if len(hosts) > 4 else "")
    out.print(f"wrote {path} (hosts {shown})", markup=False)
    line = include_line(folder)
    user_config = Path.home() / ".ssh" / "config"
    if not (user_config.is_file() and line in user_config.read_text(errors="replace")):
        out.print(f"add this line at the top of {user_config} (before any Host):", markup=False)
        out.print(f"  {line}", markup=False)
    out.print(f"then: ssh {inv.nodes[0].name}", markup=False)


@day2
def exec_(
    access: Access,
    command: Annotated[list[str], typer.Argument(help="The command, after `--`.")],
    nodes: Annotated[str, typer.Option("--nodes", "-n", help=SELECTOR_HELP)] = "all",
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            "-t",
            callback=seconds(0.1),
            help="Seconds per node, connect included; the command is stopped there after.",
        ),
    ] = 60.0,
) -> None:
    """Run a command on nodes in parallel; output prefixed by node; non-zero if any node failed."""
    inv = access.open()
    chosen = select(inv, nodes)
    printer = _Printer(chosen)
    started = time.monotonic()
    with connect(access, inv, min(timeout, BASTION_TIMEOUT_S)) as t:
        results = run_all(t, chosen, " ".join(command), timeout_s=timeout, sink=printer.line)
    printer.outcomes(results)
    stderr.print(summary(results, time.monotonic() - started), markup=False)
    if any(r.result.user_must_fix for r in results):
        raise typer.Exit(exits.BAD_INPUT)
    if not all(r.result.ok for r in results):
        raise typer.Exit(exits.FAILED)


@day2
def logs(
    access: Access,
    node: Annotated[str, typer.Argument(help="Node index, name or hostname.")],
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines.")
    ] = False,
    lines: Annotated[
        int, typer.Option("--lines", "-n", min=1, max=10_000_000, help="Lines to show.")
    ] = 200,
) -> None:
    """The journal of the node's gpuform units (this boot)."""
    inv = access.open()
    target = one(inv, node)
    with connect(access, inv, BASTION_TIMEOUT_S) as t:
        for line in _pumped(t.stream(target, journal_command(lines=lines, follow=follow))):
            print(line, flush=True)


@day2
def wait(
    access: Access,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout", "-t", callback=seconds(1), help="Give up after this many seconds."
        ),
    ] = 3600.0,
    interval: Annotated[
        float, typer.Option("--interval", callback=seconds(0.5), help="Seconds between polls.")
    ] = 10.0,
    no_endpoint: NoEndpoint = False,
    keep_going: Annotated[
        bool, typer.Option("--keep-going", help="Keep waiting when a step has failed.")
    ] = False,
) -> None:
    """Wait until every step is active on every node, Ray is whole and the endpoint answers."""
    inv = access.open()
    show = _WaitView(inv, timeout)
    started = time.monotonic()
    # A fresh deployment's bastion may still be booting: wait polls through that. Reaching it
    # counts against --timeout, as every poll does, and leaves half of it for a first poll
    # (the report per node comes from a poll).
    bastion_s = min(BASTION_TIMEOUT_S, timeout / 2)
    with connect(access, inv, bastion_s, unreachable_ok=True) as t, show:
        outcome = wait_ready(
            t, inv, timeout_s=timeout, interval_s=interval, check_endpoint=not no_endpoint,
            fail_fast=not keep_going, on_poll=show.update, started=started,
        )  # fmt: skip
    if outcome.ready:
        url = inv.endpoint_url or "(no endpoint_url output)"
        out.print(
            f"{access.stack} is ready after {outcome.last.elapsed_s:.0f}s: {url}", markup=False
        )
        return
    for line in views.gap_report(outcome, timeout):
        stderr.print(line, markup=False)
    raise typer.Exit(exits.BAD_INPUT if outcome.refused else exits.FAILED)


@day2
def status(
    access: Access,
    no_endpoint: NoEndpoint = False,
    oci_profile: Annotated[
        str, typer.Option("--oci-profile", help="Profile in ~/.oci/config for instance state.")
    ] = "DEFAULT",
) -> None:
    """A table of the nodes: reachable, GPUs, each step's state and why, endpoint, instance."""
    inv = access.open()
    with connect(access, inv, BASTION_TIMEOUT_S) as t:
        report = gather(t, inv, check_endpoint=not no_endpoint, oci_profile=oci_profile)
    out.print(views.status_table(report))
    for line in views.status_notes(report):
        out.print(line, markup=False)
    # The table is printed whatever the nodes' state; a host only the user can fix is exit 2.
    if any(s.user_must_fix for s in report.states.values()):
        raise typer.Exit(exits.BAD_INPUT)


def _pumped(lines: Iterator[str]) -> Iterator[str]:
    """`lines`, read on a thread of their own, so that Ctrl-C stops us the first time.

    Read on the main thread, the KeyboardInterrupt could land anywhere inside paramiko (a
    lock taken and never released), and `logs --follow` then kept running after SIGINT.
    Here it lands in queue.get, plain Python; the caller's exit closes the channel, which
    ends the reader and (on its PTY) the remote journalctl.
    """
    box: queue.Queue[tuple[str | None, BaseException | None]] = queue.Queue(maxsize=1024)

    def pump() -> None:
        try:
            for line in lines:
                box.put((line, None))
        except BaseException as err:  # handed to the main thread, which says it in one line
            box.put((None, err))
            return
        box.put((None, None))

    threading.Thread(target=pump, name="gpuform-stream", daemon=True).start()
    try:
        while True:
            line, err = box.get()
            if err is not None:
                raise err
            if line is None:
                return
            yield line
    except KeyboardInterrupt:
        raise typer.Exit(exits.INTERRUPTED) from None


class _Printer:
    """Prefixed live output from many threads, one whole line at a time."""

    def __init__(self, nodes: tuple[Node, ...]) -> None:
        self._width = max(len(n.name) for n in nodes)
        self._lock = threading.Lock()

    def line(self, node: Node, stream: Stream, text: str) -> None:
        fh = sys.stdout if stream == "stdout" else sys.stderr
        with self._lock:
            fh.write(f"{node.name:<{self._width}} | {text}\n")
            fh.flush()

    def outcomes(self, results: list[NodeResult]) -> None:
        """A line per node: its exit code and time, or why it did not run to the end."""
        for r in results:
            res = r.result
            what = f"exit {res.exit_code}" if res.error is None else f"error: {res.error}"
            stderr.print(f"{r.node.name:<{self._width}} : {what} ({r.seconds:.1f}s)", markup=False)


class _WaitView:
    """Live progress on a terminal; elsewhere (CI logs), a line whenever a node's state changes."""

    def __init__(self, inv: Inventory, timeout_s: float) -> None:
        self._inv = inv
        self._timeout = timeout_s
        self._live: Live | None = None
        self._last: dict[str, str] = {}

    def __enter__(self) -> _WaitView:
        if out.is_terminal:
            self._live = Live(console=out, refresh_per_second=4, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)

    def update(self, poll: Poll) -> None:
        if self._live is not None:
            self._live.update(views.progress_table(self._inv, poll, self._timeout))
            return
        for node in self._inv.nodes:
            line = views.progress_line(self._inv, poll.states[node.index])
            if self._last.get(node.name) != line:
                self._last[node.name] = line
                out.print(f"[{poll.elapsed_s:5.0f}s] {node.name}: {line}", markup=False)


def register(app: typer.Typer) -> None:
    """Add the day-2 commands to the gpuform app."""
    app.command("ssh")(ssh)
    app.command("ssh-config")(ssh_config)
    app.command("exec")(exec_)
    app.command("logs")(logs)
    app.command("wait")(wait)
    app.command("status")(status)
