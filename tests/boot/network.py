"""Private network namespaces for booted nodes: nothing in them reaches beyond this machine.

Each node gets its own namespace (handed to `systemd-nspawn --network-namespace-path`) with:
  - lo up, carrying 169.254.169.254/32, where that node's IMDS stand-in listens;
  - eth0, a veth whose peer sits on a bridge in one "switch" namespace shared by the stack,
    addressed in the stack's private subnet, so workers reach their head as on OCI.
There is no default route and no link to the host's namespaces: any other destination fails at
once with "Network is unreachable", which is what the offline steps of the bootstrap must meet.
Only OUTSIDE, a documentation range no VCN uses, is routed on-link: a peer on the bridge can
then knock from outside the VCN and see the node's firewall answer (add_peer).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from ipaddress import IPv4Interface, IPv4Network
from pathlib import Path

NETNS_DIR = Path("/run/netns")
PREFIX = "gpuform-boot-"
IMDS_ADDRESS = "169.254.169.254"
#: TEST-NET-1 (RFC 5737): a source outside every VCN range, for probes the firewall must refuse.
OUTSIDE = IPv4Network("192.0.2.0/24")


@dataclass(frozen=True)
class NodeNet:
    """One node's namespace and its address on the stack's private network."""

    netns: str
    address: IPv4Interface

    @property
    def path(self) -> Path:
        return NETNS_DIR / self.netns


@dataclass(frozen=True)
class PrivateNetwork:
    """A stack's switch namespace and the namespaces of its nodes."""

    switch: str
    nodes: tuple[NodeNet, ...]


def _ip(*args: str) -> None:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()}")


def create(run_id: str, addresses: list[IPv4Interface]) -> PrivateNetwork:
    """Namespaces for a stack whose node i gets addresses[i]; destroy() undoes it all."""
    switch = f"{PREFIX}{run_id}-sw"
    nodes = tuple(NodeNet(f"{PREFIX}{run_id}-n{i}", a) for i, a in enumerate(addresses))
    net = PrivateNetwork(switch, nodes)
    try:
        _ip("netns", "add", switch)
        _ip("-n", switch, "link", "set", "lo", "up")
        _ip("-n", switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", switch, "link", "set", "br0", "up")
        for i, node in enumerate(nodes):
            _ip("netns", "add", node.netns)
            _ip("-n", node.netns, "link", "set", "lo", "up")
            _ip("-n", node.netns, "addr", "add", f"{IMDS_ADDRESS}/32", "dev", "lo")
            _ip("-n", switch, "link", "add", f"p{i}", "type", "veth", "peer", "name", "eth0",
                "netns", node.netns)  # fmt: skip
            _ip("-n", switch, "link", "set", f"p{i}", "master", "br0", "up")
            _ip("-n", node.netns, "addr", "add", str(node.address), "dev", "eth0")
            _ip("-n", node.netns, "link", "set", "eth0", "up")
            _ip("-n", node.netns, "route", "add", str(OUTSIDE), "dev", "eth0")
    except BaseException:
        destroy(net)
        raise
    return net


def add_peer(net: PrivateNetwork, addresses: list[IPv4Interface]) -> str:
    """A namespace on `net`'s bridge holding `addresses`, as a load balancer or peer would
    connect from; destroy() removes it with the rest."""
    peer = _peer(net)
    _ip("netns", "add", peer)
    _ip("-n", peer, "link", "set", "lo", "up")
    _ip("-n", net.switch, "link", "add", "pq", "type", "veth", "peer", "name", "eth0",
        "netns", peer)  # fmt: skip
    _ip("-n", net.switch, "link", "set", "pq", "master", "br0", "up")
    for a in addresses:
        _ip("-n", peer, "addr", "add", str(a), "dev", "eth0")
    _ip("-n", peer, "link", "set", "eth0", "up")
    return peer


def _peer(net: PrivateNetwork) -> str:
    return net.switch.removesuffix("-sw") + "-peer"


def destroy(net: PrivateNetwork) -> None:
    """Delete every namespace of `net` that exists (veths and the bridge go with them)."""
    for name in [n.netns for n in net.nodes] + [_peer(net), net.switch]:
        if (NETNS_DIR / name).exists():
            subprocess.run(
                ["ip", "netns", "del", name], capture_output=True, timeout=30, check=False
            )


def remove_stale() -> list[str]:
    """Delete harness namespaces left by runs whose process is gone; returns their names."""
    removed: list[str] = []
    if not NETNS_DIR.is_dir():
        return removed
    for path in NETNS_DIR.glob(f"{PREFIX}*"):
        pid = path.name[len(PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists() and int(pid) != os.getpid():
            subprocess.run(
                ["ip", "netns", "del", path.name], capture_output=True, timeout=30, check=False
            )
            removed.append(path.name)
    return removed


def add_address(netns: str, address: IPv4Interface) -> None:
    """Give the switch (`netns`'s bridge) an address on the private subnet, for a stand-in
    service that nodes reach as they would an OCI endpoint."""
    _ip("-n", netns, "addr", "add", str(address), "dev", "br0")
