"""The `rdma`, `ray` and `torchrun` context parts: a node's place in a multi-node cluster."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..catalog.nccl import collective_settings
from ..engines import RayRole
from ..placement import rdma_placement
from ..sizing.settings import StackSizes
from ..specs import AnyStack


@dataclass(frozen=True)
class RdmaPart:
    """The RDMA network of a node in a compute cluster: NCCL's settings and the devices."""

    library: Literal["nccl", "rccl"]
    conf: str
    """/etc/nccl.conf, KEY=VALUE lines (oci-hpc's per-shape file; infra/catalog/nccl.json)."""
    devices: int
    """RDMA devices the node waits for: the ones NCCL_IB_HCA names, else the shape's RDMA NICs."""
    hcas: tuple[str, ...] = ()
    """The devices NCCL_IB_HCA names (oci-hpc's nccl.conf per shape): only these count. The
    front-end NICs are RDMA devices too (mlx5_2 and mlx5_11 on H100.8) but NCCL never uses
    them. Empty: the library names none (RCCL on MI300X), so every device counts."""
    conf_path: str = "/etc/nccl.conf"
    sysfs: str = "/sys/class/infiniband"
    devices_timeout_s: int = 600


@dataclass(frozen=True)
class RayPart:
    """This node's place in its Ray cluster, with every port pinned so the firewall can name it.

    Ray's defaults pick random ports for the node manager, object manager, agents and workers
    (ray start --help); pinned, they can be opened to the VCN alone.
    """

    role: RayRole
    image: str
    container_name: str = "gpuform-ray"
    gcs_port: int = 6379
    node_manager_port: int = 6380
    object_manager_port: int = 6381
    runtime_env_agent_port: int = 6382
    dashboard_agent_grpc_port: int = 6383
    dashboard_agent_listen_port: int = 6384
    metrics_export_port: int = 6385
    client_server_port: int = 10001
    dashboard_port: int = 8265
    min_worker_port: int = 10002
    max_worker_port: int = 10999
    join_timeout_s: int = 1800
    cache_dir: str = "/root/.cache/huggingface"
    """Where the host's model cache is mounted in the Ray container."""
    session_dir: str = "/var/lib/gpuform/ray"
    """Host folder mounted as /tmp/ray in the Ray and engine containers: the engine's driver
    finds the node's raylet through it and attaches to the running cluster."""

    @property
    def tcp_ports(self) -> tuple[int, ...]:
        """Ports this node's Ray processes listen on (worker ports as the range's ends)."""
        own = (
            self.node_manager_port,
            self.object_manager_port,
            self.runtime_env_agent_port,
            self.dashboard_agent_grpc_port,
            self.dashboard_agent_listen_port,
            self.metrics_export_port,
        )
        head = (self.gcs_port, self.client_server_port, self.dashboard_port)
        return (*head, *own) if self.role == "head" else own


@dataclass(frozen=True)
class TorchrunPart:
    """What `torchrun` needs on each node of a training cluster, as /etc/gpuform/torchrun.env."""

    master_port: int
    nnodes: int
    nproc_per_node: int
    node_rank: int
    tp: int
    pp: int
    ep: int
    env_file: str = "/etc/gpuform/torchrun.env"


def rdma_part(stack: AnyStack, settings: StackSizes) -> RdmaPart | None:
    if rdma_placement(stack, settings) is None:
        return None
    nccl = collective_settings(stack.nodes.shape)
    assert nccl is not None, f"{stack.nodes.shape} is an RDMA shape without NCCL settings"
    # A leading '=' asks NCCL for exactly these names, not name prefixes (NCCL's env docs).
    hca = dict(nccl.env).get("NCCL_IB_HCA", "").removeprefix("=")
    hcas = tuple(h.split(":", 1)[0] for h in hca.split(",") if h)
    devices = len(hcas) or stack.nodes.shape_info.rdma_nics
    return RdmaPart(nccl.library, nccl.conf, devices, hcas)
