"""A lab: a bastion sshd and N node sshds in private namespaces, as a deployed stack looks.

The client namespace reaches only the bastion (public bridge); nodes sit on the private bridge
that only the bastion shares, so every node connection must go through the bastion. Node
addresses are 10.211.0.10 + i. `Lab.inventory()` describes it the way Terraform outputs would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

from infra.ops.inventory import Inventory

from . import netns, sshd, stubs
from .connector import NetnsConnector

STACK = "opslab"
BASTION_PUBLIC = f"{netns.PUBLIC}.2"
BASTION_PRIVATE = f"{netns.PRIVATE}.2"
CLIENT = f"{netns.PUBLIC}.1"
#: Each lab node's steps (systemctl answers for them from tests/ops/stubs.py).
STEPS = ["gpuform-node-env.service", "gpuform-engine.service", "gpuform-ready.service"]
_RUNS = count()


def node_address(i: int) -> str:
    return f"{netns.PRIVATE}.{10 + i}"


#: A node address where no host exists at all (a machine that is down).
ABSENT_ADDRESS = f"{netns.PRIVATE}.250"
_MISSING = [t for t in ("ip", "ssh-keygen", sshd.SSHD) if not shutil.which(t)]
CANNOT = (
    "network namespaces need root" if os.geteuid() != 0
    else f"missing {', '.join(_MISSING)} (tools/ensure-debian-tools.sh)" if _MISSING
    else ""
)  # fmt: skip


@dataclass
class Lab:
    """A running lab; `daemons[i]` serves node i (None: nothing listens there)."""

    root: Path
    ns: netns.Namespaces
    client_ns: str
    key: Path
    """The client's private key, authorized on every host."""
    bastion_only_key: Path
    """A key the bastion accepts and the nodes do not."""
    authorized_keys: Path
    addresses: list[str]
    node_ns: list[str]
    daemons: dict[int, sshd.Daemon | None] = field(default_factory=dict)
    bastion: sshd.Daemon | None = None
    stack: ExitStack = field(default_factory=ExitStack)

    def outputs(
        self, addresses: list[str] | None = None, bastion: str = BASTION_PUBLIC
    ) -> dict[str, Any]:
        """What `terraform output -json` would print for this lab (or for other addresses)."""
        nodes = [
            {
                "index": i, "name": f"{STACK}-node-{i}", "hostname": f"node{i}",
                "role": "head" if i == 0 else "worker", "replica": 0, "head": 0,
                "private_ip": address, "ray_role": None, "steps": STEPS,
            }
            for i, address in enumerate(addresses or self.addresses)
        ]  # fmt: skip
        values = {
            "stack": STACK, "nodes": nodes, "bastion_public_ip": bastion, "bastion_user": "root",
            "ssh_user": "root", "endpoint_url": None,
        }  # fmt: skip
        return {k: {"value": v, "type": "dynamic", "sensitive": False} for k, v in values.items()}

    def inventory(self, addresses: list[str] | None = None) -> Inventory:
        return Inventory.from_outputs(STACK, self.outputs(addresses))

    def inventory_file(
        self, addresses: list[str] | None = None, bastion: str = BASTION_PUBLIC
    ) -> Path:
        path = self.root / f"outputs-{bastion}.json"
        path.write_text(json.dumps(self.outputs(addresses, bastion)))
        return path

    def connector(self) -> NetnsConnector:
        """Connections from the client namespace (closed with the lab)."""
        conn = NetnsConnector(self.client_ns)
        self.stack.callback(conn.close)
        return conn

    def start_node(self, i: int) -> sshd.Daemon:
        """(Re)start node i's sshd with its current host key."""
        self.stop_node(i)
        work = self.node_dir(i)
        fresh = not work.exists()
        env = stubs.install(work)
        if fresh:
            for unit in ("gpuform.target", *STEPS):
                stubs.set_unit(work, unit, "active", "running")
        daemon = sshd.start_sshd(
            netns=self.node_ns[i], address=self.addresses[i], workdir=work,
            authorized_keys=self.authorized_keys, forwarding=False, env=env,
        )  # fmt: skip
        self.daemons[i] = daemon
        return daemon

    def node_dir(self, i: int) -> Path:
        """Node i's folder: sshd config, host key, and the stand-ins' state."""
        return self.root / f"node{i}"

    def hang_node(self, i: int) -> None:
        """Replace node i's sshd by a listener that accepts and never answers."""
        self.stop_node(i)
        self.daemons[i] = sshd.start_hanging(
            netns=self.node_ns[i], address=self.addresses[i], workdir=self.node_dir(i)
        )

    def stop_node(self, i: int) -> None:
        daemon = self.daemons.pop(i, None)
        if daemon is not None:
            daemon.stop()

    def rekey_node(self, i: int) -> None:
        """Give node i a new host key (as a replaced or impersonated host would have)."""
        sshd.keygen(self.node_dir(i) / "ssh_host_ed25519_key", f"new host {i}")
        self.start_node(i)

    def client_env(self, home: Path) -> dict[str, str]:
        """Environment for a gpuform process run in the client namespace."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SSH_")}
        env.update(HOME=str(home), GPUFORM_HOME=str(home / ".gpuform"), NO_COLOR="1")
        return env

    def in_client(self, argv: list[str]) -> list[str]:
        """`argv` run inside the client namespace."""
        return ["ip", "netns", "exec", self.client_ns, *argv]


@contextmanager
def lab(root: Path, nodes: int) -> Iterator[Lab]:
    """A lab with `nodes` node sshds and a bastion; everything is torn down on exit."""
    netns.remove_stale()
    root.mkdir(parents=True, exist_ok=True)
    ns = netns.Namespaces(f"{os.getpid()}-{next(_RUNS)}")
    with ExitStack() as stack:
        stack.callback(ns.destroy)
        running = _build(root, ns, nodes)
        stack.callback(running.stack.close)
        for i in range(nodes):
            stack.callback(running.stop_node, i)
            running.start_node(i)
        yield running


def _build(root: Path, ns: netns.Namespaces, nodes: int) -> Lab:
    sw = netns.switch(ns)
    client = ns.add("client")
    ns.plug(client, "pc", "pub", CLIENT)
    bastion = ns.add("bastion")
    ns.plug(bastion, "pb", "pub", BASTION_PUBLIC, dev="pub0")
    ns.plug(bastion, "qb", "priv", BASTION_PRIVATE, dev="priv0")
    node_ns = []
    for i in range(nodes):
        name = ns.add(f"n{i}")
        ns.plug(name, f"q{i}", "priv", node_address(i))
        node_ns.append(name)
    del sw
    key = sshd.keygen(root / "client_key")
    other = sshd.keygen(root / "bastion_only_key")
    authorized = root / "authorized_keys"
    authorized.write_text(key.with_suffix(".pub").read_text())
    addresses = [node_address(i) for i in range(nodes)]
    running = Lab(root, ns, client, key, other, authorized, addresses, node_ns)
    (root / "bastion").mkdir()
    bastion_keys = root / "bastion" / "authorized_keys"
    bastion_keys.write_text(authorized.read_text() + other.with_suffix(".pub").read_text())
    running.bastion = sshd.start_sshd(
        netns=bastion, address=BASTION_PUBLIC, workdir=root / "bastion",
        authorized_keys=bastion_keys, forwarding=True,
    )  # fmt: skip
    running.stack.callback(running.bastion.stop)
    return running


def run_gpuform(lab: Lab, home: Path, args: list[str], timeout_s: float = 60) -> Any:
    """The installed `gpuform` console script, run in the client namespace."""
    from tests.conftest import GPUFORM

    return subprocess.run(
        lab.in_client([str(GPUFORM), *args]), capture_output=True, text=True,
        env=lab.client_env(home), timeout=timeout_s, check=False,
    )  # fmt: skip
