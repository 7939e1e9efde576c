"""Reading one command's output off a paramiko channel: both streams, live lines, a deadline."""

from __future__ import annotations

import select
import time
from dataclasses import dataclass, field
from typing import Any

from .transport import LineSink, Stream

#: Cap on one wait for data, so flags that signal no pipe (the exit status) are seen promptly.
POLL_CAP_S = 0.5


#: Output kept per stream for the RunResult. The probe's and nccl-test's few KB fit many
#: times over; `exec -- yes` for a minute must not fill the memory (its lines went to the
#: terminal as they came), so beyond this only the tail is kept.
KEEP_BYTES = 8 << 20
#: A line this long without a newline (`cat /dev/zero`) is handed on in pieces of this size.
MAX_LINE = 64 << 10


@dataclass
class Lines:
    """One output stream: its last KEEP_BYTES, and lines handed to a sink as they come."""

    stream: Stream
    sink: LineSink | None
    data: bytearray = field(default_factory=bytearray)
    _sent: int = 0

    def feed(self, chunk: bytes) -> None:
        self.data += chunk
        if self.sink is not None:
            end = self.data.rfind(b"\n")
            if end >= self._sent:
                for line in self.data[self._sent : end].split(b"\n"):
                    self._send(line)
                self._sent = end + 1
            while len(self.data) - self._sent > MAX_LINE:
                self._send(self.data[self._sent : self._sent + MAX_LINE])
                self._sent += MAX_LINE
        if len(self.data) > KEEP_BYTES:
            # Only what the sink has seen may go (with a sink, at most MAX_LINE is unseen).
            drop = len(self.data) - KEEP_BYTES
            if self.sink is not None:
                drop = min(drop, self._sent)
            del self.data[:drop]
            self._sent -= drop

    def finish(self) -> str:
        """The text kept; a last line without a newline still reaches the sink."""
        if self.sink is not None and self._sent < len(self.data):
            self._send(self.data[self._sent :])
            self._sent = len(self.data)
        return self.data.decode(errors="replace")

    def _send(self, line: bytes | bytearray) -> None:
        assert self.sink is not None
        self.sink(self.stream, line.decode(errors="replace").rstrip("\r"))


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
