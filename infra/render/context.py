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
    "node", "host", "paths", "limits", "metadata", "engine", "api_key", "storage", "weights"
]

CONTAINER_NAME = "gpuform-engine"

# AMD GPUs reach containers as device nodes; ROCm needs the video/render groups, and its
# runtime's memory mapping is blocked by docker's default seccomp profile.
_AMD_FLAGS = (
    "--device", "/dev/kfd", "--device", "/dev/dri", "--group-add", "video",
    "--group-add", "render", "--security-opt", "seccomp=unconfined", "--ipc=host",
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
    command = drv.command(
        ServeInputs(
            model_id=stack.model.id,
            revision=stack.model.revision,
            port=port,
            topology=topo,
            node_index=node_index,
            max_model_len=settings.max_model_len,
            memory_fraction=settings.gpu_memory_fraction,
            extra_args=stack.engine.extra_args,
            model_path=weights.container_dir if weights else None,
        )
    )
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
        paths=paths,
    )
