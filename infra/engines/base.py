"""What every engine driver declares: images, ports, health, API key, memory, topology, argv."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from ..catalog.shapes import Vendor
from .args import Arg, NodeVar
from .topology import Topology

#: A registered driver's `kind` (infra/engines/__init__.py): a plain string, since the set of
#: engines is the registry's and a Literal would list it a second time. Specs check it on input.
EngineKind = str
RayRole = Literal["head", "worker"]

#: The replica head's private IP, as node.env names it (metadata key gpuform_head_ip).
HEAD_IP = NodeVar("GPUFORM_HEAD_IP")
RAY_PORT = 6379


@dataclass(frozen=True)
class ApiKeySupport:
    """How an engine takes its API key, and why that way.

    env_var: the variable the key is written under in the root-only env file that `docker run
    --env-file` passes to the container. via_argv: True when the engine only reads the key from
    its command line, so the entry script appends it inside the container (the key then shows in
    the engine process's argv on the node; it never appears in user-data or the docker command).
    """

    env_var: str
    via_argv: bool
    note: str


@dataclass(frozen=True)
class ModelPull:
    """How an engine that serves nothing until told to pulls its model through its own server.

    The model-pull step (templates/scripts/model-pull.sh.j2) waits until `up_path` answers on
    the engine's port, then runs `argv` and the model's tag inside the engine's container.
    """

    up_path: str
    """Answers 200 once the server accepts requests, before any model is loaded."""
    argv: tuple[str, ...]
    """The engine's own pull command in its container; the tag is appended."""
    address_env: str
    """The variable that command reads the server's address from (set to 127.0.0.1:PORT)."""


@dataclass(frozen=True)
class MemoryProfile:
    """How one engine spends GPU memory, with the defaults it ships."""

    batched_tokens: int
    """Tokens in one forward pass at its peak (prefill chunk), which sizes the activation peak."""
    max_seqs: int
    """Sequences sampled at once: each needs a row of fp32 logits."""
    runtime_overhead_gb: float
    """CUDA graphs, NCCL buffers and the CUDA context, per GPU."""
    mla_latent: bool
    """Caches MLA's compressed latent (576 values a layer) instead of per-head K and V."""
    fraction_covers_activations: bool
    """vLLM's gpu_memory_utilization bounds everything; SGLang's mem_fraction_static only
    weights and KV, and the rest of the GPU must hold activations and CUDA graphs."""
    default_fraction: Callable[[float, Topology], float]
    """(GiB the driver reports per GPU, the replica's layout) -> the engine's own share."""
    default_context: int | None = None
    """A context the engine uses when told nothing (Ollama's num_ctx); None: the model's maximum."""
    reports_fraction: bool = True
    """The engine has a memory-share flag (vLLM, SGLang); others fill what they find."""
    batch_for_gpu: Callable[[int, str], tuple[int, int]] | None = None
    """(bytes the GPU has, its model) -> (batched_tokens, max_seqs), where the engine picks its
    defaults by GPU; None: the fixed fields above."""

    def batch(self, gpu_memory_bytes: int, gpu_model: str) -> tuple[int, int]:
        """The batched tokens and sequences the engine sizes its profile run with on this GPU."""
        if self.batch_for_gpu is None:
            return self.batched_tokens, self.max_seqs
        return self.batch_for_gpu(gpu_memory_bytes, gpu_model)


@dataclass(frozen=True)
class ServeInputs:
    """What one node's engine command is built from: the model, its sizes and the node's place."""

    model_id: str
    revision: str
    port: int
    topology: Topology
    node_index: int
    max_model_len: int | None
    memory_fraction: float | None
    extra_args: tuple[str, ...]
    model_path: str | None = None
    """The verified local copy of the weights inside the container (docs/weights.md); the
    engine loads from it and keeps answering to `model_id`. None: the engine fetches itself."""

    @property
    def served(self) -> tuple[str, ...]:
        """The model argument's value(s) after the flag: the local path when there is one."""
        return (self.model_path,) if self.model_path else (self.model_id,)

    @property
    def rank(self) -> int:
        return self.topology.rank(self.node_index)

    @property
    def is_head(self) -> bool:
        return self.topology.is_head(self.node_index)


@dataclass(frozen=True)
class EngineCommand:
    """What one node's container runs."""

    argv: tuple[Arg, ...]
    """Server argv; empty on a Ray worker, whose entry script joins the head instead."""
    env: tuple[tuple[str, str], ...]
    """Literal environment for the container (never secrets)."""
    ray_role: RayRole | None
    serves_http: bool
    """Only the head node answers the OpenAI API in multi-node stacks."""


@dataclass(frozen=True)
class EngineDriver:
    """Everything gpuform knows about one engine; nothing engine-specific lives elsewhere."""

    kind: EngineKind
    """What a stack writes in engine.kind; unique in the registry."""
    title: str
    """The engine's own name, as messages print it (vLLM, SGLang)."""
    example_model: str
    """A model id in the form the engine takes (see `pulls_model`) that the sizing catalog holds,
    small enough for one GPU: messages suggest it, and tests/test_every_engine.py plans, renders
    and boots a stack serving it."""
    images: Mapping[Vendor, tuple[str, str]]
    """Default (repository, tag) per GPU vendor: the images the DeepSeek serving guides use."""
    port: int
    health_path: str
    """Answers 200 without an API key once the engine can serve (the load balancer's check)."""
    container_cache: str
    """Where the engine keeps downloaded weights inside its container."""
    api_key: ApiKeySupport | None
    """None: the engine has no API-key option; only network rules protect it."""
    memory: MemoryProfile
    multi_node: bool
    """One replica may span nodes (over RDMA)."""
    expert_parallel: bool
    """Places whole MoE experts on TP ranks when told to."""
    topology: Callable[[int, int], Topology]
    """(GPUs per node, nodes per replica) -> how the engine lays out one replica."""
    command: Callable[[ServeInputs], EngineCommand]
    ports: Callable[[ServeInputs], tuple[int, ...]]
    """TCP ports this node's engine listens on for other hosts (the load balancer, peers). The
    host firewall opens exactly these to the VCN (infra/render/context.py, FirewallPart)."""
    pull: ModelPull | None = None
    """How the engine pulls its model through its running server, from its own registry and by
    that registry's tag (Ollama: deepseek-r1:70b); None: it loads a Hugging Face model at start.
    """
    gguf: bool = False
    """Serves GGUF files: every tensor quantized, Q4_K_M unless the tag says otherwise."""
    tensor_parallel: bool = True
    """Splits attention heads over GPUs; False: one GPU, or whole layers over all of them."""
    health_timeout_ms: int = 3_000
    """How long the load balancer waits for `health_path` (OCI's default is 3 s)."""

    @property
    def pulls_model(self) -> bool:
        """model.id is a tag the engine pulls itself (`pull`): gpuform fetches nothing for it, so
        no weights step, weights bucket or hub token. False: model.id is a Hugging Face id
        (org/name) whose weights the weights step fetches before the engine starts."""
        return self.pull is not None

    def image_ref(self, vendor: Vendor, image: str | None = None, tag: str | None = None) -> str:
        """`repo:tag` with this engine's defaults filled for the GPU vendor."""
        repo, default_tag = self.images[vendor]
        return f"{image or repo}:{tag or default_tag}"


def serving_port(s: ServeInputs) -> tuple[int, ...]:
    """The API port, on a node that serves it (every replica head); nothing on workers."""
    return (s.port,) if s.is_head else ()


def fraction_flag(value: float) -> str:
    """A memory share as engines print it (0.9, not 0.90000)."""
    return f"{value:g}"
