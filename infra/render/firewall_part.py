"""The `firewall` context part: what a node's host firewall opens, to the VCN alone."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FirewallPart:
    """What the node's host firewall opens, to the VCN alone.

    OCI's platform images admit only TCP 22: Oracle Linux runs firewalld, and Canonical's Ubuntu
    images load iptables rules that REJECT everything else (oracle-quickstart/oci-hpc
    playbooks/roles/firewall turns both off; gpuform opens what the node serves instead). The
    NSGs alone therefore never let the load balancer's health check or a peer reach the engine.
    """

    vcn_cidr: str
    tcp_ports: tuple[int, ...]
    """What the engine serves on this node (its driver's `ports`): opened to vcn_cidr only."""
    peer_tcp_all: bool
    """Every TCP port from vcn_cidr: the node shares a replica with other nodes, whose NCCL,
    Gloo and torch.distributed connections use ephemeral ports no engine flag pins."""
