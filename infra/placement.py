"""Where a stack's nodes go: one RDMA network block (a compute cluster or a cluster network), or
anywhere."""

from __future__ import annotations

from typing import Literal

from .errors import UserError
from .sizing.settings import StackSizes
from .specs import AnyStack

Placement = Literal["compute_cluster", "cluster_network"]
"""compute_cluster: per-node instances; cluster_network: one instance pool of identical nodes."""


def rdma_placement(stack: AnyStack, settings: StackSizes) -> Placement | None:
    """A compute cluster when one replica (or a training cluster) spans nodes, or the stack
    asks for one; else None.

    Nodes of a multi-node replica must share an RDMA network block, or NCCL falls back to TCP
    over the VCN. A compute cluster keeps per-node user_data (each instance is launched into it
    one by one), which the node plan needs (oracle/terraform-provider-oci
    website/docs/r/core_compute_cluster.html.markdown).
    """
    shape = stack.nodes.shape_info
    spans = settings.topology.nodes_per_replica > 1
    if spans and not shape.rdma:
        raise UserError.at(
            "nodes.shape",
            shape.name,
            f"one replica spans {settings.topology.nodes_per_replica} nodes, which needs an RDMA "
            "shape (BM.GPU.H100.8, BM.GPU.H200.8, BM.GPU.MI300X.8, BM.GPU.A100-v2.8, BM.GPU4.8)",
        )
    if stack.nodes.placement is not None:
        return stack.nodes.placement
    return "compute_cluster" if spans else None
