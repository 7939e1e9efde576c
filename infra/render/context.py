"""The typed context templates render from: every decision about a node is made here.

Templates only lay out shell, systemd and YAML around these values; they hold no policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .. import node_metadata
from ..catalog.shapes import Vendor
from ..sizing.settings import EngineSettings
from ..specs import EngineKind, StackSpec
from .engines import (
    API_KEY_SUPPORT,
    CONTAINER_CACHE,
    RAY_PORT,
    ApiKeySupport,
    EngineCommand,
    engine_command,
)

PackageManager = Literal["dnf", "apt"]

LIB = "/usr/local/lib/gpuform"
ETC = "/etc/gpuform"
STATE = "/var/lib/gpuform"
LOGS = "/var/log/gpuform"
UNITS = "/etc/systemd/system"

IMDS_URL = "http://169.254.169.254/opc/v2/instance/metadata"
LOCALDISK = "/mnt/localdisk"
CONTAINER_NAME = "gpuform-engine"

# AMD GPUs reach containers as device nodes; ROCm needs the video/render groups, and its
# runtime's memory mapping is blocked by docker's default seccomp profile.
_AMD_FLAGS = (
    "--device", "/dev/kfd", "--device", "/dev/dri", "--group-add", "video",
    "--group-add", "render", "--security-opt", "seccomp=unconfined", "--ipc=host",
)  # fmt: skip
_NVIDIA_FLAGS = ("--gpus", "all", "--ipc=host")

#: Bounded waits (seconds). Weights of DeepSeek-class models take tens of minutes to fetch.
IMDS_TIMEOUT_S = 120
READY_TIMEOUT_S = 5400
SERVER_UP_TIMEOUT_S = 600
IMAGE_PULL_TIMEOUT_S = 2400
MODEL_PULL_TIMEOUT_S = 5400

#: The engine restarts after a crash, but at most this many starts in this window; then the
#: unit fails for good instead of looping quietly.
RESTART_SEC = 30
START_LIMIT_BURST = 4
START_LIMIT_INTERVAL_S = 10800


@dataclass(frozen=True)
class MetadataKey:
    """One instance-metadata key and the node.env variable it becomes."""

    key: str
    var: str
    required: bool


@dataclass(frozen=True)
class ApiKeyContext:
    """Where the API key goes on the node; the key itself never passes through here."""

    secret_id_key: str
    secret_id_var: str
    env_file: str
    support: ApiKeySupport


@dataclass(frozen=True)
class EngineContext:
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
    """The tag to pull once the Ollama server is up; None for other engines."""


@dataclass(frozen=True)
class NodeContext:
    """Everything a node's cloud-config, scripts and units are rendered from."""

    stack_name: str
    node_index: int
    node_count: int
    is_head: bool
    """Head of its replica: serves the API (and, multi-node, leads Ray or SGLang)."""
    pipeline_nodes: int
    """Nodes this node's replica spans; above 1 the nodes rendezvous at the head."""
    shape: str
    vendor: Vendor
    gpus: int
    package_manager: PackageManager
    nvme_drives: int
    cache_localdisk: str
    cache_boot: str
    metadata_keys: tuple[MetadataKey, ...]
    api_key: ApiKeyContext | None
    api_key_unsupported: bool
    """The stack asks for a key but the engine has no way to enforce one (Ollama)."""
    engine: EngineContext
    ready_url: str
    lib: str = LIB
    etc: str = ETC
    state: str = STATE
    logs: str = LOGS
    imds_url: str = IMDS_URL
    localdisk: str = LOCALDISK
    imds_timeout_s: int = IMDS_TIMEOUT_S
    ready_timeout_s: int = READY_TIMEOUT_S
    server_up_timeout_s: int = SERVER_UP_TIMEOUT_S
    image_pull_timeout_s: int = IMAGE_PULL_TIMEOUT_S
    model_pull_timeout_s: int = MODEL_PULL_TIMEOUT_S
    restart_sec: int = RESTART_SEC
    start_limit_burst: int = START_LIMIT_BURST
    start_limit_interval_s: int = START_LIMIT_INTERVAL_S

    @property
    def node_env(self) -> str:
        return f"{self.etc}/node.env"

    @property
    def ready_file(self) -> str:
        return f"{self.state}/ready"


def _metadata_keys() -> tuple[MetadataKey, ...]:
    # The stack name is always set by Terraform, so it doubles as the "IMDS reachable" probe.
    return tuple(
        MetadataKey(k, k.upper(), required=k == node_metadata.STACK)
        for k in node_metadata.BOOT_KEYS
    )


def build_context(stack: StackSpec, node_index: int, settings: EngineSettings) -> NodeContext:
    """Decide everything about node `node_index` of `stack` with `settings`."""
    # settings.nodes, not nodes.count: the planner picks the count a stack leaves unset, and
    # Terraform creates exactly settings.nodes instances.
    if not 0 <= node_index < settings.nodes:
        raise ValueError(
            f"node_index {node_index} is outside stack {stack.name!r}'s "
            f"{settings.nodes} node(s); use 0..{settings.nodes - 1}"
        )
    shape = stack.nodes.shape_info
    command = engine_command(stack, settings, node_index)
    support = API_KEY_SUPPORT[stack.engine.kind]
    wants_key = stack.endpoint.require_api_key and command.serves_http
    keys = _metadata_keys()
    secret = next(m for m in keys if m.key == node_metadata.API_KEY_SECRET_ID)
    port = stack.engine.serve_port
    engine = EngineContext(
        kind=stack.engine.kind,
        image=stack.image_ref,
        port=port,
        container_name=CONTAINER_NAME,
        gpu_flags=_AMD_FLAGS if shape.vendor == "amd" else _NVIDIA_FLAGS,
        container_cache=CONTAINER_CACHE[stack.engine.kind],
        command=command,
        model=stack.model.id,
        ray_port=RAY_PORT,
        ollama_tag=stack.model.id if stack.engine.kind == "ollama" else None,
    )
    return NodeContext(
        stack_name=stack.name,
        node_index=node_index,
        node_count=settings.nodes,
        is_head=settings.is_head(node_index),
        pipeline_nodes=settings.pipeline_parallel_size,
        shape=shape.name,
        vendor=shape.vendor,
        gpus=shape.gpus,
        package_manager=stack.nodes.image.package_manager,
        nvme_drives=shape.nvme_drives,
        cache_localdisk=f"{LOCALDISK}/gpuform/cache",
        cache_boot=f"{STATE}/cache",
        metadata_keys=keys,
        api_key=(
            ApiKeyContext(secret.key, secret.var, f"{ETC}/api-key.env", support)
            if wants_key and support is not None
            else None
        ),
        api_key_unsupported=wants_key and support is None,
        engine=engine,
        ready_url=f"http://127.0.0.1:{port}/v1/models",
    )
