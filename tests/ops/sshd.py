"""Real OpenSSH daemons (Debian's openssh-server) for the ops tests, one per lab host."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SSHD = "/usr/sbin/sshd"
START_TIMEOUT_S = 15.0
#: sshd refuses to start without its privilege separation directory.
PRIVSEP_DIR = Path("/run/sshd")

_CONFIG = """\
ListenAddress {address}
Port {port}
HostKey {host_key}
PidFile none
AuthorizedKeysFile {authorized_keys}
# The keys live in a temporary folder: StrictModes would reject /tmp's permissions.
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
AllowTcpForwarding {forwarding}
X11Forwarding no
PrintMotd no
PrintLastLog no
UseDNS no
MaxStartups 200
MaxSessions 100
LogLevel INFO
"""

_HANG = """\
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(64)
print("ready", flush=True)
held = []
while True:
    held.append(s.accept()[0])  # accept, then never say a word: no SSH banner
"""


def keygen(path: Path, comment: str = "gpuform-ops-test") -> Path:
    """A fresh ed25519 key pair at `path` (and `path`.pub), replacing any there."""
    for p in (path, path.with_suffix(".pub")):
        p.unlink(missing_ok=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return path


@dataclass
class Daemon:
    """One process serving a host address: a real sshd, or a listener that never answers."""

    netns: str
    address: str
    log: Path
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        """Terminate it and wait; kill if it does not go."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_sshd(
    *,
    netns: str,
    address: str,
    workdir: Path,
    authorized_keys: Path,
    forwarding: bool,
    env: dict[str, str] | None = None,
) -> Daemon:
    """sshd -D on `address`:22 inside `netns` (sessions get `env`); returns once it listens."""
    PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
    host_key = workdir / "ssh_host_ed25519_key"
    if not host_key.exists():
        keygen(host_key, f"host {address}")
    config = workdir / "sshd_config"
    text = _CONFIG.format(
        address=address, port=22, host_key=host_key, authorized_keys=authorized_keys,
        forwarding="yes" if forwarding else "no",
    )  # fmt: skip
    if env:
        text += "SetEnv " + " ".join(f"{k}={v}" for k, v in env.items()) + "\n"
    config.write_text(text)
    log = workdir / "sshd.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", netns, SSHD, "-D", "-e", *_no_reexec(), "-f", str(config)],
            stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
        )  # fmt: skip
    daemon = Daemon(netns, address, log, proc)
    _await(daemon, lambda: "Server listening on" in log.read_text(errors="replace"))
    return daemon


@cache
def _no_reexec() -> list[str]:
    """`-r` where this sshd has it (an unknown option fails before -V prints)."""
    # One lab machine runs every host's sshd; re-executing sshd per connection (~5 ms of CPU)
    # is a cost real nodes pay on their own CPUs, not on the client's.
    proc = subprocess.run([SSHD, "-r", "-V"], capture_output=True, timeout=30, check=False)
    return ["-r"] if proc.returncode == 0 else []


def start_hanging(*, netns: str, address: str, workdir: Path) -> Daemon:
    """A TCP listener on `address`:22 that accepts and never sends a banner."""
    log = workdir / "hang.log"
    proc = subprocess.Popen(
        ["ip", "netns", "exec", netns, sys.executable, "-c", _HANG, address, "22"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    daemon = Daemon(netns, address, log, proc)
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    _await(
        daemon, lambda: bool(select.select([fd], [], [], 0.1)[0]) and b"ready" in os.read(fd, 64)
    )
    return daemon


def _await(daemon: Daemon, ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready():
        if daemon.process.poll() is not None or time.monotonic() > deadline:
            daemon.stop()
            seen = daemon.log.read_text(errors="replace") if daemon.log.exists() else ""
            raise RuntimeError(
                f"daemon on {daemon.address} in {daemon.netns} did not start: {seen}"
            )
        time.sleep(0.02)
