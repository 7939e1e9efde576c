"""One booted container: `systemd-nspawn -b` with systemd as PID 1, entered with nsenter.

The host runs no systemd (no machined, no bus), so nspawn runs with --register=no and
--keep-unit, and commands reach the container through nsenter on its init process rather than
machinectl. halt() always ends the container: a clean poweroff first (nspawn turns SIGTERM into
SIGRTMIN+3 for a booted init), SIGKILL of the container's init if that does not finish in time.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

POLL_S = 0.2
PROPAGATE_DIR = Path("/run/systemd/nspawn/propagate")


@dataclass
class Container:
    """A running container and how to reach it."""

    name: str
    process: subprocess.Popen[bytes]
    leader: int
    """Host PID of the container's init (systemd)."""
    console_log: Path


class BootError(RuntimeError):
    """The container did not come up; the message says what was seen."""


def start(
    *, name: str, root: Path, netns: Path, hostname: str, console_log: Path, timeout_s: float
) -> Container:
    """Boot `root` in network namespace `netns`; returns once systemd runs as its PID 1."""
    cmd = [
        "systemd-nspawn",
        "--quiet",
        "--register=no",
        "--keep-unit",
        f"--machine={name}",
        f"--hostname={hostname}",
        f"--network-namespace-path={netns}",
        # The node's own firewall (netfilter-persistent at boot, gpuform's firewall step) needs
        # it, as on a real node; it acts on the container's private namespace alone.
        "--capability=CAP_NET_ADMIN",
        "--resolv-conf=off",  # keep the rootfs's loopback-only resolver
        "--timezone=off",
        "--link-journal=no",
        "--console=read-only",
        "--boot",
        f"--directory={root}",
    ]
    with console_log.open("wb") as out:
        process = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BootError(
                f"systemd-nspawn exited with {process.returncode} before booting:\n"
                + console_log.read_text(errors="replace")[-2000:]
            )
        leader = _init_pid(process.pid)
        if leader is not None:
            return Container(name, process, leader, console_log)
        time.sleep(POLL_S)
    container = Container(name, process, -1, console_log)
    halt(container, 5)
    raise BootError(f"systemd did not start as PID 1 within {timeout_s:.0f}s")


def _init_pid(nspawn_pid: int) -> int | None:
    # nspawn's child execs /sbin/init; it is the container's init once its comm is systemd.
    for child in _children(nspawn_pid):
        try:
            if Path(f"/proc/{child}/comm").read_text().strip() == "systemd":
                return child
        except OSError:
            continue
    return None


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def run(
    container: Container, argv: list[str], timeout_s: float
) -> subprocess.CompletedProcess[str]:
    """Run `argv` inside the container; a command that outlives `timeout_s` is killed."""
    cmd = ["nsenter", "-t", str(container.leader), "-a", "--", *argv]
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "SYSTEMD_PAGER": ""}
    try:
        return subprocess.run(
            cmd, capture_output=True, text=True, errors="replace", timeout=timeout_s,
            env=env, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as err:
        out = err.stdout.decode(errors="replace") if isinstance(err.stdout, bytes) else ""
        return subprocess.CompletedProcess(cmd, 124, out, f"timed out after {timeout_s:.0f}s")


def halt(container: Container, timeout_s: float) -> bool:
    """Power the container off, killing it if needed; True when the poweroff was clean."""
    proc = container.process
    clean = True
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            clean = False
            # Killing a PID namespace's init kills everything inside it.
            if container.leader > 0:
                _kill(container.leader)
            _kill(proc.pid)
            proc.wait(timeout=timeout_s)
    # nspawn leaves an empty per-machine directory here when the host has no systemd.
    with contextlib.suppress(OSError):
        (PROPAGATE_DIR / container.name).rmdir()
    return clean


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
