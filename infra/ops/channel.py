"""Reading one command's output off a paramiko channel: both streams, live lines, a deadline."""

from __future__ import annotations

import select
import time
from dataclasses import dataclass, field
from typing import Any

from .transport import LineSink, Stream

#: Cap on one wait for data, so flags that signal no pipe (the exit status) are seen promptly.
POLL_CAP_S = 0.5


@dataclass
class Lines:
    """One output stream: the bytes so far, and complete lines handed to a sink as they come."""

    stream: Stream
    sink: LineSink | None
    data: bytearray = field(default_factory=bytearray)
    _sent: int = 0

    def feed(self, chunk: bytes) -> None:
        self.data += chunk
        if self.sink is None:
            return
        end = self.data.rfind(b"\n")
        if end >= self._sent:
            for line in self.data[self._sent : end].split(b"\n"):
                self.sink(self.stream, line.decode(errors="replace").rstrip("\r"))
            self._sent = end + 1

    def finish(self) -> str:
        """The whole text; a last line without a newline still reaches the sink."""
        if self.sink is not None and self._sent < len(self.data):
            self.sink(self.stream, self.data[self._sent :].decode(errors="replace").rstrip("\r"))
            self._sent = len(self.data)
        return self.data.decode(errors="replace")


@dataclass(frozen=True)
class Collected:
    """What a channel gave before it closed or the deadline passed."""

    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool


def collect(chan: Any, deadline: float, sink: LineSink | None) -> Collected:
    """Drain stdout and stderr until the command exits (or `deadline`, time.monotonic())."""
    out, err = Lines("stdout", sink), Lines("stderr", sink)
    timed_out = False
    while True:
        # Flags first, then drain: data always precedes EOF, so nothing is left behind.
        finished = chan.exit_status_ready() and (chan.eof_received or chan.closed)
        while chan.recv_ready():
            out.feed(chan.recv(65536))
        while chan.recv_stderr_ready():
            err.feed(chan.recv_stderr(65536))
        if finished:
            break
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
            break
        select.select([chan], [], [], min(remaining, POLL_CAP_S))
    code = None if timed_out else int(chan.recv_exit_status())
    return Collected(code, out.finish(), err.finish(), timed_out)
