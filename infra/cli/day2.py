"""One option set and one setup for the six day-2 commands (and `nccl-test --run`).

Every command takes STACK, then its own arguments and options, then the same five options
(`--out`, `--inventory`, `--terraform`, `--identity`, `--known-hosts`); `day2()` adds them, and
`Access.open()` is the one setup: the stack name checked, the files checked, the outputs read.
`connect()` reaches the bastion and maps every transport failure to the one exit-code table.
"""

from __future__ import annotations

import inspect
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, get_type_hints

import typer

from ..ops import exits, paths
from ..ops.files import check_regular
from ..ops.inventory import Inventory
from ..ops.names import stack_name
from ..ops.sshconfig import SshConfig
from ..ops.transport import Transport, TransportError, Unreachable
from .errors import stderr, user_errors

BASTION_TIMEOUT_S = 20.0
#: After Ctrl-C (or any end), closing the connections may not hold the exit for longer.
CLOSE_S = 5.0
#: Longest --timeout: a week. inf and nan are no number of seconds (threading refuses them).
MAX_SECONDS = 7 * 24 * 3600.0


def seconds(low: float) -> Callable[[float], float]:
    """A --timeout/--interval check: a finite number of seconds from `low` to a week."""

    def check(value: float) -> float:
        if not low <= value <= MAX_SECONDS:  # nan fails every comparison
            raise typer.BadParameter(
                f"{value:g} is not a number of seconds from {low:g} to {MAX_SECONDS:g}"
            )
        return value

    return check


Stack = Annotated[str, typer.Argument(help="Stack name (its folder under cdktf.out/stacks).")]
OutDir = Annotated[
    Path, typer.Option("--out", help="Synth output folder holding the stack.", file_okay=False)
]
InventoryFile = Annotated[
    Path | None,
    typer.Option(
        "--inventory", envvar="GPUFORM_INVENTORY", dir_okay=False,
        help="A saved `terraform output -json` to use instead of running terraform.",
    ),
]  # fmt: skip
Terraform = Annotated[str, typer.Option("--terraform", help="terraform or tofu.")]
Identity = Annotated[
    Path | None,
    typer.Option(
        "--identity", "-i", envvar="GPUFORM_IDENTITY", dir_okay=False,
        help="Private key of the stack's SSH key (else the keys in ssh-agent).",
    ),
]  # fmt: skip
KnownHostsFile = Annotated[
    Path | None,
    typer.Option(
        "--known-hosts", dir_okay=False,
        help="known_hosts for this stack (default ~/.gpuform/<stack>/known_hosts).",
    ),
]  # fmt: skip


@dataclass(frozen=True)
class Access:
    """How every day-2 command reaches a stack: the options they all share."""

    stack: str
    out_dir: Path
    inventory: Path | None
    terraform: str
    identity: Path | None
    known_hosts: Path | None

    def open(self) -> Inventory:
        """The one setup of every command: a valid stack name, then the stack's outputs."""
        stack_name(self.stack)
        # Appended to on first contact: a FIFO there would block, /dev/zero never end.
        check_regular(self.known_hosts_file, "--known-hosts", 64 << 20, must_exist=False)
        if self.identity is not None:  # told now, not after the bastion's banner
            check_regular(self.identity, "--identity", 1 << 20)
        if self.inventory is not None:
            return Inventory.from_file(self.stack, self.inventory)
        return Inventory.from_terraform(self.stack, self.out_dir, self.terraform)

    @property
    def known_hosts_file(self) -> Path:
        return self.known_hosts or paths.known_hosts(self.stack)

    def ssh_config(self, inv: Inventory) -> SshConfig:
        return SshConfig(inv, self.known_hosts_file, self.identity)


#: The options every day-2 command takes, after its own: (annotation, default), by parameter.
_SHARED: dict[str, tuple[object, object]] = {
    "out_dir": (OutDir, Path("cdktf.out")),
    "inventory": (InventoryFile, None),
    "terraform": (Terraform, "terraform"),
    "identity": (Identity, None),
    "known_hosts": (KnownHostsFile, None),
}
Command = Callable[..., None]


def day2(fn: Command) -> Command:
    """One option set for the six commands: `fn(access, own...)` becomes a typer command
    taking STACK first, its own arguments and options, then the shared options; errors a
    user can fix end as one line (user_errors)."""
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    hints = get_type_hints(fn, include_extras=True)
    own = [
        p.replace(annotation=hints[p.name])
        for p in inspect.signature(fn).parameters.values()
        if p.name != "access"
    ]
    shared = [inspect.Parameter(n, kind, annotation=a, default=d) for n, (a, d) in _SHARED.items()]
    signature = inspect.Signature(
        [inspect.Parameter("stack", kind, annotation=Stack), *own, *shared],
        return_annotation=None,
    )

    def command(**values: Any) -> None:
        access = Access(values.pop("stack"), *(values.pop(n) for n in _SHARED))
        fn(access, **values)

    command.__name__ = fn.__name__
    command.__doc__ = fn.__doc__
    command.__signature__ = signature  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in signature.parameters.values()}
    return user_errors(command)


@contextmanager
def connect(
    access: Access, inv: Inventory, bastion_timeout_s: float, *, unreachable_ok: bool = False
) -> Iterator[Transport]:
    """An SSH transport with the bastion reached (told once); `unreachable_ok` lets wait poll."""
    # paramiko costs ~0.1 s to import: only commands that connect pay for it.
    from ..ops.hostkeys import KnownHosts
    from ..ops.keys import Credentials
    from ..ops.ssh import SshTransport

    log_to_stderr()
    hosts = KnownHosts(access.known_hosts_file)
    config = SshConfig(inv, hosts.path, access.identity)
    t = SshTransport(inv, Credentials(access.identity), hosts, ssh_config=config)
    try:
        try:
            t.connect_bastion(bastion_timeout_s)
        except Unreachable:
            if not unreachable_ok:
                raise
        yield t
    except TransportError as err:
        raise transport_exit(err) from None
    finally:
        close_within(t, CLOSE_S)


def close_within(t: Transport, limit_s: float) -> None:
    """Close the connections, but never let that hold the exit (after Ctrl-C above all)."""
    closer = threading.Thread(target=t.close, name="gpuform-close", daemon=True)
    closer.start()
    closer.join(limit_s)


def transport_exit(err: TransportError) -> typer.Exit:
    """One line; exit 2 when the user must fix keys, 1 when the network or host is at fault."""
    stderr.print(f"gpuform: {err}", markup=False)
    return typer.Exit(exits.BAD_INPUT if err.user_must_fix else exits.FAILED)


def log_to_stderr() -> None:
    # paramiko logs tracebacks for failures we already report in one line; keep them out.
    quiet = logging.getLogger("paramiko")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    # First-contact host keys are logged by infra.ops.hostkeys; the user must see them.
    logger = logging.getLogger("gpuform.ops")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("gpuform: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
