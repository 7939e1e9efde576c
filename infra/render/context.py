"""The typed context templates render from: every decision about a node is made here.

The context is cut into parts (node, host, paths, limits, metadata, engine, api_key); a step
declares the parts its templates read and is rendered with those alone, so a template that
reaches for anything else fails under StrictUndefined. Templates only lay out shell, systemd
and YAML around these values; they hold no policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .. import node_metadata
from ..catalog.shapes import Vendor
from ..engines import RAY_PORT, ApiKeySupport, EngineCommand, EngineKind, ServeInputs, driver
from ..sizing.settings import EngineSettings
from ..specs import StackSpec
from .storage_part import StoragePart, storage_part
from .weights_part import WeightsPart, weights_part

PackageManager = Literal["dnf", "apt"]
Part = Literal[
    "node", "host", "paths", "limits", "metadata", "engine", "api_key", "storage", "weights",
    "firewall",
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

    @property
    def node_env(self) -> str:
        return f"{self.etc}/node.env"

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
class EnginePart:
    """The engine container of one node."""

    kind: EngineKind
    image: str
    port: int
    container_name: str
    gpu_flags: tuple[str, ...]
    container_cache: str
    command: EngineCommand
    model: str
    ray_port: int
    ollama_tag: str | None
    """The tag to pull once the server is up (engines that pull through the server)."""
    api_key_unsupported: bool
    """The stack asks for a key but the engine has no way to enforce one (Ollama)."""

    @property
    def ready_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/models"


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
    engine: EnginePart
    metadata: tuple[MetadataKey, ...]
    api_key: ApiKeyPart | None
    storage: StoragePart | None = None
    """The shared File Storage mount, when the stack has one."""
    weights: WeightsPart | None = None
    """The verified weight cache the engine serves (infra/render/weights_part.py)."""
    firewall: FirewallPart | None = None
    paths: PathsPart = field(default_factory=PathsPart)
    limits: LimitsPart = field(default_factory=LimitsPart)

    def parts(self, names: tuple[Part, ...]) -> dict[str, object]:
        """The named parts, as template variables."""
        return {n: getattr(self, n) for n in names}


def _metadata_keys() -> tuple[MetadataKey, ...]:
    # The stack name is always set by Terraform, so it doubles as the "IMDS reachable" probe.
    return tuple(
        MetadataKey(k, k.upper(), required=k == node_metadata.STACK)
        for k in node_metadata.BOOT_KEYS
    )


def serve_inputs(
    stack: StackSpec, node_index: int, settings: EngineSettings, model_path: str | None = None
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


def build_context(stack: StackSpec, node_index: int, settings: EngineSettings) -> NodeContext:
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
    drv = driver(stack.engine.kind)
    port = stack.engine.serve_port
    weights = weights_part(stack, settings)
    inputs = serve_inputs(
        stack, node_index, settings, weights.container_dir if weights is not None else None
    )
    command = drv.command(inputs)
    wants_key = stack.endpoint.require_api_key and command.serves_http
    keys = _metadata_keys()
    secret = next(m for m in keys if m.key == node_metadata.API_KEY_SECRET_ID)
    paths = PathsPart()
    return NodeContext(
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
        ),
        engine=EnginePart(
            kind=drv.kind,
            image=stack.image_ref,
            port=port,
            container_name=CONTAINER_NAME,
            gpu_flags=_AMD_FLAGS if shape.vendor == "amd" else _NVIDIA_FLAGS,
            container_cache=drv.container_cache,
            command=command,
            model=stack.model.id,
            ray_port=RAY_PORT,
            ollama_tag=stack.model.id if drv.pulls_model else None,
            api_key_unsupported=wants_key and drv.api_key is None,
        ),
        metadata=keys,
        api_key=(
            ApiKeyPart(secret.key, secret.var, f"{paths.etc}/api-key.env", drv.api_key)
            if wants_key and drv.api_key is not None
            else None
        ),
        storage=storage_part(stack),
        weights=weights,
        firewall=FirewallPart(
            vcn_cidr=str(stack.deployment.vcn_cidr),
            tcp_ports=drv.ports(inputs),
            peer_tcp_all=topo.nodes_per_replica > 1,
        ),
        paths=paths,
    )
