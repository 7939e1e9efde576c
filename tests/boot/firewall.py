"""Each booted node's host firewall, as the load balancer and the node's peers meet it.

OCI's platform images reject inbound TCP on every port but 22, and the rootfs boots with the
same rules (rootfs.CANONICAL_RULES_V4). Once a node has settled, the harness starts a stand-in
listener inside it on each port it must serve (the engine cannot start offline) and on one
port it must not, then connects from a peer namespace on the stack's bridge: from an address
inside the VCN and from one outside it (network.OUTSIDE). A connection is "open" only if the
firewall let it through to the listener; the REJECT rule answers "rejected".
"""

from __future__ import annotations

import json
import subprocess
import textwrap
import time
from dataclasses import dataclass
from ipaddress import IPv4Interface

from . import container as ct
from . import network

#: Where the image keeps the rules it loads at boot, which the firewall step must save to.
SAVED_RULES = "/etc/iptables/rules.v4"
#: Ports no engine serves; the first one a node does not serve gets a stand-in too.
UNSERVED_CANDIDATES = (9999, 9998)
CONNECT_TIMEOUT_S = 3.0

VCN, OUTSIDE = "vcn", "outside"


@dataclass(frozen=True)
class PortProbe:
    """One connection attempt to a node, from inside or outside the VCN."""

    port: int
    source: str
    """VCN or OUTSIDE."""
    address: str
    outcome: str
    """open, rejected (ICMP host-prohibited), refused (RST), timeout, or `error <errno>`."""


@dataclass(frozen=True)
class Peer:
    """The namespace probes come from, with one address in the VCN and one outside it."""

    netns: str
    vcn: IPv4Interface
    outside: IPv4Interface


def add_peer(net: network.PrivateNetwork, subnet: IPv4Interface) -> Peer:
    """A peer on `net`'s bridge: the last address of the nodes' subnet, and one in OUTSIDE."""
    sub = subnet.network
    vcn = IPv4Interface(f"{sub.broadcast_address - 1}/{sub.prefixlen}")
    outside = IPv4Interface(f"{network.OUTSIDE.network_address + 10}/{network.OUTSIDE.prefixlen}")
    return Peer(network.add_peer(net, [vcn, outside]), vcn, outside)


def unserved_port(served: tuple[int, ...]) -> int:
    return next(p for p in UNSERVED_CANDIDATES if p not in served)


def probe_node(
    c: ct.Container, peer: Peer, node: IPv4Interface, served: tuple[int, ...]
) -> tuple[list[PortProbe], str]:
    """Probes of `served` and one unserved port from both sources, and the saved rules."""
    other = unserved_port(served)
    problems = [p for p in (*served, other) if not _standin(c, p)]
    plan = [(p, VCN) for p in (*served, other)] + [(p, OUTSIDE) for p in (*served, other)]
    outcomes = _connect(peer, str(node.ip), plan)
    probes = [
        PortProbe(port, src, str(peer.vcn.ip if src == VCN else peer.outside.ip), outcome)
        for (port, src), outcome in zip(plan, outcomes, strict=True)
    ]
    # A stand-in that never listened makes every probe of its port meaningless; say so.
    probes += [PortProbe(p, VCN, "", "error: stand-in listener did not start") for p in problems]
    saved = ct.run(c, ["cat", SAVED_RULES], 10)
    return probes, saved.stdout if saved.returncode == 0 else ""


def _standin(c: ct.Container, port: int) -> bool:
    """A listener on `port` inside the node, as a transient unit; True once it accepts."""
    ct.run(c, ["systemd-run", f"--unit=gpuform-standin-{port}", "--quiet", "--collect",
               "python3", "-m", "http.server", str(port), "--bind", "0.0.0.0"], 15)  # fmt: skip
    check = (
        "import socket,sys\ns=socket.socket()\ns.settimeout(1)\n"
        f"sys.exit(s.connect_ex(('127.0.0.1', {port})))"
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if ct.run(c, ["python3", "-c", check], 5).returncode == 0:
            return True
        time.sleep(0.2)
    return False


_PROBE = textwrap.dedent(
    """\
    import errno, json, socket, sys
    target, timeout, plan = sys.argv[1], float(sys.argv[2]), json.loads(sys.argv[3])
    out = []
    for port, source in plan:
        s = socket.socket()
        s.settimeout(timeout)
        s.bind((source, 0))
        try:
            s.connect((target, port))
            out.append("open")
        except ConnectionRefusedError:
            out.append("refused")
        except socket.timeout:
            out.append("timeout")
        except OSError as e:
            out.append("rejected" if e.errno == errno.EHOSTUNREACH else f"error {e.errno}")
        finally:
            s.close()
    print(json.dumps(out))
    """
)


def _connect(peer: Peer, target: str, plan: list[tuple[int, str]]) -> list[str]:
    sources = {VCN: str(peer.vcn.ip), OUTSIDE: str(peer.outside.ip)}
    wire = json.dumps([[port, sources[src]] for port, src in plan])
    proc = subprocess.run(
        ["ip", "netns", "exec", peer.netns, "python3", "-c", _PROBE, target,
         str(CONNECT_TIMEOUT_S), wire],
        capture_output=True, text=True, timeout=30 + CONNECT_TIMEOUT_S * len(plan), check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        return [f"error: probe failed: {proc.stderr.strip()[-300:]}"] * len(plan)
    outcomes: list[str] = json.loads(proc.stdout)
    return outcomes
