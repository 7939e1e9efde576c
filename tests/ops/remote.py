"""What still runs on the lab's nodes: every lab host shares this machine's process table."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path


def running(cmdline: str) -> list[int]:
    """Pids whose command line is exactly `cmdline` (words joined by spaces)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            words = (proc / "cmdline").read_bytes().rstrip(b"\0").split(b"\0")
        except OSError:
            continue
        if b" ".join(words).decode(errors="replace") == cmdline:
            found.append(int(proc.name))
    return found


def gone(cmdline: str, within_s: float) -> list[int]:
    """Wait until nothing runs `cmdline`; returns what still does (killed, so tests leave none)."""
    deadline = time.monotonic() + within_s
    while (left := running(cmdline)) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return left


def appear(cmdline: str, count: int, within_s: float) -> list[int]:
    """Wait until `count` processes run `cmdline`; returns them (fewer if time ran out)."""
    deadline = time.monotonic() + within_s
    while len(found := running(cmdline)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return found
