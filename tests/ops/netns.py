"""Private network namespaces for the ops tests; nothing in them reaches beyond this machine.

A lab is a "switch" namespace holding two bridges (public and private), a client namespace on
the public bridge, a bastion on both, and one namespace per node on the private bridge only.
No namespace has a default route or a link to the host's own namespaces, so every address
(10.210/24 public, 10.211/24 private) exists only inside the lab.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

NETNS_DIR = Path("/run/netns")
PREFIX = "gpuform-ops-"
PUBLIC = "10.210.0"
PRIVATE = "10.211.0"


def ip(*args: str) -> None:
    """Run `ip`; RuntimeError with its stderr on failure."""
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()}")


@dataclass
class Namespaces:
    """The namespaces of one lab, created in order and deleted together."""

    run_id: str
    created: list[str] = field(default_factory=list)

    def name(self, suffix: str) -> str:
        return f"{PREFIX}{self.run_id}-{suffix}"

    def add(self, suffix: str) -> str:
        """Create a namespace with loopback up; returns its name."""
        name = self.name(suffix)
        ip("netns", "add", name)
        self.created.append(name)
        ip("-n", name, "link", "set", "lo", "up")
        return name

    def plug(self, ns: str, port: str, bridge: str, address: str, dev: str = "eth0") -> None:
        """A veth from `ns` (as `dev`, with `address`/24) to `bridge` in the switch (as `port`)."""
        switch = self.name("sw")
        ip("-n", switch, "link", "add", port, "type", "veth", "peer", "name", dev, "netns", ns)
        ip("-n", switch, "link", "set", port, "master", bridge, "up")
        ip("-n", ns, "addr", "add", f"{address}/24", "dev", dev)
        ip("-n", ns, "link", "set", dev, "up")

    def destroy(self) -> None:
        """Delete every namespace created (their veths and bridges go with them)."""
        for name in reversed(self.created):
            if (NETNS_DIR / name).exists():
                subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
        self.created.clear()


def switch(ns: Namespaces) -> str:
    """The switch namespace with its two bridges, `pub` and `priv`."""
    name = ns.add("sw")
    for bridge in ("pub", "priv"):
        ip("-n", name, "link", "add", bridge, "type", "bridge")
        ip("-n", name, "link", "set", bridge, "up")
    return name


def remove_stale() -> None:
    """Delete lab namespaces left by test runs whose process is gone."""
    if not NETNS_DIR.is_dir():
        return
    for path in NETNS_DIR.glob(f"{PREFIX}*"):
        pid = path.name[len(PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not Path(f"/proc/{pid}").exists():
            subprocess.run(["ip", "netns", "del", path.name], capture_output=True, timeout=30)
