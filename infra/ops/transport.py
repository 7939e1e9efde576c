"""How ops reach a node: one interface, whatever carries the bytes (SSH, nsenter, a fake).

status, logs and wait are written once against `Transport`; `infra.ops.ssh` implements it
with paramiko through the bastion, the boot harness with nsenter into its containers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ClassVar, Literal, Protocol

from .inventory import Node

#: Where an output line came from.
Stream = Literal["stdout", "stderr"]
#: Called once per complete output line, as it arrives (for live, prefixed output).
LineSink = Callable[[Stream, str], None]


@dataclass(frozen=True)
class RunResult:
    """What one command did on one node."""

    exit_code: int | None
    """The command's exit status; None when it never ran to the end (see `error`)."""
    stdout: str
    stderr: str
    error: str | None = None
    """Why there is no exit status: unreachable, refused, timed out (one line)."""
    user_must_fix: bool = False
    """The error is one only the user can fix (a changed host key, a refused key): retrying
    or waiting cannot help, and the command exits 2 (infra/ops/exits.py)."""

    @property
    def ok(self) -> bool:
        return self.error is None and self.exit_code == 0


class TransportError(Exception):
    """The node could not be reached or refused us; str() is one line naming the node."""

    user_must_fix: ClassVar[bool] = False
    """Only the user can fix it: no retry or wait will (exit 2, not 1)."""


class HostKeyChanged(TransportError):
    """The node's host key differs from the recorded one; never connected."""

    user_must_fix = True


class AuthFailed(TransportError):
    """The node (or the bastion) accepted none of our keys."""

    user_must_fix = True


class CannotRecord(TransportError):
    """A new host's key could not be written to known_hosts; never connected."""

    user_must_fix = True


class Unreachable(TransportError):
    """No SSH session: no route, refused, no banner, or the deadline passed while connecting."""


class Transport(Protocol):
    """Runs commands on nodes; thread-safe, so one instance serves parallel calls."""

    def run(
        self, node: Node, command: str, *, timeout_s: float, on_line: LineSink | None = None
    ) -> RunResult:
        """Run a shell command; never raises for a node-side problem (see RunResult.error)."""
        ...

    def stream(self, node: Node, command: str) -> Iterator[str]:
        """Yield the command's output lines until it ends; closing the iterator stops it."""
        ...

    def shell(self, node: Node) -> int:
        """An interactive shell on the node's terminal; returns its exit status."""
        ...

    def close(self) -> None:
        """Drop every connection."""
        ...
