"""The typed context templates render from: every decision about a node is made here.

The context is cut into parts (node, host, paths, limits, metadata, engine, api_key, ...); a step
declares the parts its templates read and is rendered with those alone, so a template that
reaches for anything else fails under StrictUndefined. Templates only lay out shell, systemd
and YAML around these values; they hold no policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from .. import node_metadata
from ..catalog.nccl import collective_settings
from ..catalog.shapes import Vendor
from ..engines import (
    ApiKeySupport,
    EngineCommand,
    EngineKind,
    ModelPull,
    RayRole,
    ServeInputs,
    driver,
)
from ..placement import rdma_placement
from ..sizing.settings import StackSizes
from ..specs import AnyStack, StackSpec, TrainingStackSpec
from .storage_part import StoragePart, storage_part
from .weights_part import WeightsPart, weights_part

PackageManager = Literal["dnf", "apt"]
Part = Literal[
    "node", "host", "paths", "limits", "metadata", "engine", "api_key", "rdma", "ray", "torchrun",
    "weights", "firewall",
    "storage", "hub_token",
]  # fmt: skip

CONTAINER_NAME = "gpuform-engine"

# AMD GPUs reach containers as device nodes, and ROCm's runtime's memory mapping is blocked by
# docker's default seccomp profile. The device nodes' groups (render, video) are added by the
# host's numeric GIDs where the container starts: an image's own /etc/group may lack them or
# number them differently (ollama/ollama:*-rocm, built on ubuntu:24.04, has no render group).
_AMD_FLAGS = (
    "--device", "/dev/kfd", "--device", "/dev/dri",
    "--security-opt", "seccomp=unconfined", "--ipc=host",
)  # fmt: skip
_NVIDIA_FLAGS = ("--gpus", "all", "--ipc=host")


@dataclass(frozen=True)
class NodePart:
    """Which node this is, and its place in its replica."""

    stack: str
    index: int
    count: int
    rank: int
    """Place inside its replica; 0 is the replica's head."""
    replica_nodes: int
    """Nodes this node's replica spans; above 1 the nodes rendezvous at the head."""

    @property
    def is_head(self) -> bool:
        """Head of its replica: serves the API (and, multi-node, leads Ray or SGLang)."""
        return self.rank == 0


@dataclass(frozen=True)
class HostPart:
    """The machine: shape, GPUs, disks and the image's package manager."""

    shape: str
    vendor: Vendor
    gpus: int
    package_manager: PackageManager
    nvme_drives: int
    nvswitch: bool
    """NVIDIA GPUs joined by NVSwitch: CUDA needs nvidia-fabricmanager running first."""
    gpu_flags: tuple[str, ...]
    """docker run flags that hand a container this host's GPUs."""


@dataclass(frozen=True)
class PathsPart:
    """Where gpuform keeps its files on the node."""

    lib: str = "/usr/local/lib/gpuform"
    etc: str = "/etc/gpuform"
    state: str = "/var/lib/gpuform"
    logs: str = "/var/log/gpuform"
    units: str = "/etc/systemd/system"
    localdisk: str = "/mnt/localdisk"
    imds_url: str = "http://169.254.169.254/opc/v2/instance/metadata"
    oci_venv: str = "/opt/gpuform/oci-cli"
    """Where Ubuntu's OCI CLI and SDK go (a venv); Oracle Linux uses its packaged ones."""

    @property
    def imds_v2_url(self) -> str:
        """IMDS v2's root: instance/ (the document, `id`, metadata/) and vnics/ lie below."""
        return self.imds_url.rsplit("/", 2)[0]

    @property
    def node_env(self) -> str:
        return f"{self.etc}/node.env"

    @property
    def oci_client_env(self) -> str:
        """Names the OCI CLI and a Python with the oci SDK, for every step that reads OCI by
        instance principal; written by the oci-client step, which alone installs them."""
        return f"{self.etc}/oci-client.env"

    @property
    def roster_env(self) -> str:
        """A cluster network node's index and head IP, from the roster; they override the
        pool's metadata, which cannot hold anything per node."""
        return f"{self.etc}/roster.env"

    @property
    def pool(self) -> str:
        """Where a cluster network node's cloud-config leaves every node's files."""
        return f"{self.lib}/pool"

    @property
    def ready_file(self) -> str:
        return f"{self.state}/ready"

    @property
    def cache_localdisk(self) -> str:
        return f"{self.localdisk}/gpuform/cache"

    @property
    def cache_boot(self) -> str:
        return f"{self.state}/cache"

    @property
    def docker_root(self) -> str:
        """Docker's data root on local NVMe: images of 10-30 GB stay off the boot volume."""
        return f"{self.localdisk}/docker"


@dataclass(frozen=True)
class LimitsPart:
    """Bounded waits (seconds) and the engine's restart limit."""

    imds_timeout_s: int = 120
    # Weights of DeepSeek-class models take tens of minutes to fetch.
    ready_timeout_s: int = 5400
    server_up_timeout_s: int = 600
    image_pull_timeout_s: int = 2400
    model_pull_timeout_s: int = 5400
    # The engine restarts after a crash, but at most start_limit_burst times in the interval;
    # then the unit fails for good instead of looping quietly.
    restart_sec: int = 30
    start_limit_burst: int = 4
    start_limit_interval_s: int = 10800
    # IAM is eventually consistent: the dynamic group and its policy are created next to the
    # nodes and may take minutes to reach the secret service, so the key fetch retries this long.
    secret_retry_s: int = 900
    # A cluster network's roster is written once every node of the pool runs and Terraform
    # has read their addresses; oci-hpc gives the cluster network's creation hours.
    roster_timeout_s: int = 7200


@dataclass(frozen=True)
class MetadataKey:
    """One instance-metadata key and the node.env variable it becomes."""

    key: str
    var: str
    required: bool


@dataclass(frozen=True)
class ApiKeyPart:
    """Where the API key goes on the node; the key itself never passes through here."""

    secret_id_key: str
    secret_id_var: str
    env_file: str
    support: ApiKeySupport


@dataclass(frozen=True)
class HubTokenPart:
    """Where a private or gated hub repo's token goes on the node, for the weights pull alone;
    the token itself never passes through here."""

    secret_id_key: str
    secret_id_var: str
    env_file: str
    env_var: str = "HF_TOKEN"
    """The hub's own name for it (huggingface_hub reads HF_TOKEN); the pull reads the file."""


@dataclass(frozen=True)
class EnginePart:
    """The engine container of one node."""

    kind: EngineKind
    title: str
    image: str
    port: int
    container_name: str
    container_cache: str
    command: EngineCommand
    model: str
    pull: ModelPull | None
    """How the engine pulls `model` through its running server (the model-pull step, once the
    server answers); None: it loads the model at start."""
    api_key_unsupported: bool
    """The stack asks for a key but the engine has no way to enforce one (Ollama)."""

    @property
    def ready_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/models"


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


@dataclass(frozen=True)
class NodeContext:
    """Everything a node's cloud-config, scripts and units are rendered from, in parts."""

    node: NodePart
    host: HostPart
    engine: EnginePart | None
    """The serving engine; None on a training cluster."""
    metadata: tuple[MetadataKey, ...]
    api_key: ApiKeyPart | None
    rdma: RdmaPart | None = None
    ray: RayPart | None = None
    torchrun: TorchrunPart | None = None
    weights: WeightsPart | None = None
    """The verified weight cache the engine serves (infra/render/weights_part.py)."""
    firewall: FirewallPart | None = None
    storage: StoragePart | None = None
    """The shared File Storage mount, when the stack has one."""
    hub_token: HubTokenPart | None = None
    """A token for a private or gated hub repo, when the stack's model asks for one."""
    paths: PathsPart = field(default_factory=PathsPart)
    limits: LimitsPart = field(default_factory=LimitsPart)

    def parts(self, names: tuple[Part, ...]) -> dict[str, object]:
        """The named parts, as template variables."""
        return {n: getattr(self, n) for n in names}


def _metadata_keys(*, hub_token: bool) -> tuple[MetadataKey, ...]:
    # The stack name is always set by Terraform, so it doubles as the "IMDS reachable" probe.
    return tuple(
        MetadataKey(k, k.upper(), required=k == node_metadata.STACK)
        for k in node_metadata.boot_keys(hub_token=hub_token)
    )


def serve_inputs(
    stack: StackSpec, node_index: int, settings: StackSizes, model_path: str | None = None
) -> ServeInputs:
    """What node `node_index`'s engine command and ports are built from."""
    return ServeInputs(
        model_id=stack.model.id,
        revision=stack.model.revision,
        port=stack.engine.serve_port,
        topology=settings.topology,
        node_index=node_index,
        max_model_len=settings.max_model_len,
        memory_fraction=settings.gpu_memory_fraction,
        extra_args=stack.engine.extra_args,
        model_path=model_path,
    )


def build_context(stack: AnyStack, node_index: int, settings: StackSizes) -> NodeContext:
    """Decide everything about node `node_index` of `stack` with `settings`."""
    topo = settings.topology
    # settings.nodes, not nodes.count: the planner picks the count a stack leaves unset, and
    # Terraform creates exactly settings.nodes instances.
    if not 0 <= node_index < settings.nodes:
        raise ValueError(
            f"node_index {node_index} is outside stack {stack.name!r}'s "
            f"{settings.nodes} node(s); use 0..{settings.nodes - 1}"
        )
    shape = stack.nodes.shape_info
    common = NodeContext(
        node=NodePart(
            stack=stack.name,
            index=node_index,
            count=settings.nodes,
            rank=topo.rank(node_index),
            replica_nodes=topo.nodes_per_replica,
        ),
        host=HostPart(
            shape=shape.name,
            vendor=shape.vendor,
            gpus=shape.gpus,
            package_manager=stack.nodes.image.package_manager,
            nvme_drives=shape.nvme_drives,
            nvswitch=shape.nvswitch,
            gpu_flags=_AMD_FLAGS if shape.vendor == "amd" else _NVIDIA_FLAGS,
        ),
        engine=None,
        metadata=_metadata_keys(hub_token=isinstance(stack, StackSpec) and stack.uses_hub_token),
        api_key=None,
        rdma=_rdma(stack, settings),
        storage=storage_part(stack.shared_storage),
        firewall=FirewallPart(
            vcn_cidr=str(stack.deployment.vcn_cidr),
            tcp_ports=(),
            peer_tcp_all=topo.nodes_per_replica > 1,
        ),
    )
    if isinstance(stack, TrainingStackSpec):
        return _training(common, stack, settings)
    return _serving(common, stack, settings)


def _serving(common: NodeContext, stack: StackSpec, settings: StackSizes) -> NodeContext:
    drv = driver(stack.engine.kind)
    port = stack.engine.serve_port
    weights = weights_part(stack, settings)
    model_path = weights.container_dir if weights is not None else None
    inputs = serve_inputs(stack, common.node.index, settings, model_path)
    command = drv.command(inputs)
    wants_key = stack.endpoint.require_api_key and command.serves_http
    secret = next(m for m in common.metadata if m.key == node_metadata.API_KEY_SECRET_ID)
    hub_secret = next(
        (m for m in common.metadata if m.key == node_metadata.HUB_TOKEN_SECRET_ID), None
    )
    ray = (
        RayPart(command.ray_role, stack.image_ref, cache_dir=drv.container_cache)
        if command.ray_role
        else None
    )
    return replace(
        common,
        engine=EnginePart(
            kind=drv.kind,
            title=drv.title,
            image=stack.image_ref,
            port=port,
            container_name=CONTAINER_NAME,
            container_cache=drv.container_cache,
            command=command,
            model=stack.model.id,
            pull=drv.pull,
            api_key_unsupported=wants_key and drv.api_key is None,
        ),
        api_key=(
            ApiKeyPart(secret.key, secret.var, f"{common.paths.etc}/api-key.env", drv.api_key)
            if wants_key and drv.api_key is not None
            else None
        ),
        ray=ray,
        weights=weights,
        # The spec allows a token only where the weights step pulls from the hub.
        hub_token=(
            HubTokenPart(hub_secret.key, hub_secret.var, f"{common.paths.etc}/hub-token.env")
            if hub_secret is not None and weights is not None and weights.source == "hub"
            else None
        ),
        firewall=(
            replace(common.firewall, tcp_ports=(*drv.ports(inputs), *_ray_ports(ray)))
            if common.firewall
            else None
        ),
    )


def _training(common: NodeContext, stack: TrainingStackSpec, settings: StackSizes) -> NodeContext:
    t = stack.training
    role: RayRole = "head" if common.node.is_head else "worker"
    topo = settings.topology
    ray = RayPart(role, t.image_ref) if t.launcher == "ray" else None
    # torchrun's rendezvous store listens on the master (node rank 0) alone.
    master = (t.master_port,) if t.launcher == "torchrun" and common.node.is_head else ()
    return replace(
        common,
        ray=ray,
        firewall=(
            replace(common.firewall, tcp_ports=(*_ray_ports(ray), *master))
            if common.firewall
            else None
        ),
        torchrun=(
            TorchrunPart(
                master_port=t.master_port,
                nnodes=topo.nodes_per_replica,
                nproc_per_node=topo.gpus_per_node,
                node_rank=common.node.rank,
                tp=topo.tp,
                pp=topo.pp,
                ep=topo.ep,
            )
            if t.launcher == "torchrun"
            else None
        ),
    )


def _ray_ports(ray: RayPart | None) -> tuple[int, ...]:
    return ray.tcp_ports if ray is not None else ()


def _rdma(stack: AnyStack, settings: StackSizes) -> RdmaPart | None:
    if rdma_placement(stack, settings) is None:
        return None
    nccl = collective_settings(stack.nodes.shape)
    assert nccl is not None, f"{stack.nodes.shape} is an RDMA shape without NCCL settings"
    # A leading '=' asks NCCL for exactly these names, not name prefixes (NCCL's env docs).
    hca = dict(nccl.env).get("NCCL_IB_HCA", "").removeprefix("=")
    hcas = tuple(h.split(":", 1)[0] for h in hca.split(",") if h)
    devices = len(hcas) or stack.nodes.shape_info.rdma_nics
    return RdmaPart(nccl.library, nccl.conf, devices, hcas)
