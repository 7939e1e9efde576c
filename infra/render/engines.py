"""Per-engine decisions: the server's argv, its API-key mechanism, cache and container paths.

Each builder returns the argv the container runs (after gpuform's entry script) for one node.
Flags follow each engine's own CLI; sizes come from EngineSettings, never from guesses here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ..sizing.settings import EngineSettings
from ..specs import EngineKind, StackSpec
from .args import Arg, NodeVar

RayRole = Literal["head", "worker"]

#: Head node's IP as node.env names it (from metadata key gpuform_head_ip).
HEAD_IP = NodeVar("GPUFORM_HEAD_IP")
SGLANG_DIST_PORT = 20000
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


# Ollama has no API-key option at all: its endpoint is protected only by the network rules
# (api_allowed_cidrs). Rendering skips the key fetch for it and says so in the cloud-config.
API_KEY_SUPPORT: dict[EngineKind, ApiKeySupport | None] = {
    "vllm": ApiKeySupport("VLLM_API_KEY", False, "vLLM reads VLLM_API_KEY from its environment"),
    "tgi": ApiKeySupport("API_KEY", False, "TGI's launcher reads --api-key from env API_KEY"),
    "sglang": ApiKeySupport(
        "GPUFORM_API_KEY", True, "SGLang takes --api-key only on its command line"
    ),
    "ollama": None,
}

#: Where each engine keeps downloaded weights inside its container.
CONTAINER_CACHE: dict[EngineKind, str] = {
    "vllm": "/root/.cache/huggingface",
    "sglang": "/root/.cache/huggingface",
    "tgi": "/data",
    "ollama": "/root/.ollama",
}


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


def _fraction(value: float) -> str:
    return f"{value:g}"


def _vllm(stack: StackSpec, s: EngineSettings, node_index: int) -> EngineCommand:
    multi = s.pipeline_parallel_size > 1
    role: RayRole | None = None if not multi else ("head" if s.is_head(node_index) else "worker")
    if role == "worker":
        return EngineCommand((), (), role, serves_http=False)
    argv: list[Arg] = ["vllm", "serve", stack.model.id, "--revision", stack.model.revision]
    argv += ["--tensor-parallel-size", str(s.tensor_parallel_size)]
    if s.pipeline_parallel_size > 1:
        argv += ["--pipeline-parallel-size", str(s.pipeline_parallel_size)]
    if multi:
        argv += ["--distributed-executor-backend", "ray"]
    if s.max_model_len is not None:
        argv += ["--max-model-len", str(s.max_model_len)]
    if s.gpu_memory_fraction is not None:
        argv += ["--gpu-memory-utilization", _fraction(s.gpu_memory_fraction)]
    argv += ["--host", "0.0.0.0", "--port", str(stack.engine.serve_port)]
    return EngineCommand((*argv, *stack.engine.extra_args), (), role, serves_http=True)


def _sglang(stack: StackSpec, s: EngineSettings, node_index: int) -> EngineCommand:
    # SGLang spreads one tensor-parallel group over all of a replica's nodes (--tp = its GPUs).
    tp = s.tensor_parallel_size * s.pipeline_parallel_size
    argv: list[Arg] = ["python3", "-m", "sglang.launch_server", "--model-path", stack.model.id]
    argv += ["--revision", stack.model.revision, "--tp", str(tp)]
    if s.pipeline_parallel_size > 1:
        argv += ["--dist-init-addr", NodeVar(HEAD_IP.name, f":{SGLANG_DIST_PORT}")]
        argv += ["--nnodes", str(s.pipeline_parallel_size)]
        argv += ["--node-rank", str(s.rank(node_index))]
    if s.max_model_len is not None:
        argv += ["--context-length", str(s.max_model_len)]
    if s.gpu_memory_fraction is not None:
        argv += ["--mem-fraction-static", _fraction(s.gpu_memory_fraction)]
    argv += ["--host", "0.0.0.0", "--port", str(stack.engine.serve_port)]
    serves = s.is_head(node_index)
    return EngineCommand((*argv, *stack.engine.extra_args), (), None, serves_http=serves)


def _tgi(stack: StackSpec, s: EngineSettings, node_index: int) -> EngineCommand:
    argv: list[Arg] = ["text-generation-launcher", "--model-id", stack.model.id]
    argv += ["--revision", stack.model.revision, "--num-shard", str(s.tensor_parallel_size)]
    if s.max_model_len is not None:
        # TGI needs room for at least one generated token beyond the prompt.
        argv += ["--max-total-tokens", str(s.max_model_len)]
        argv += ["--max-input-tokens", str(s.max_model_len - 1)]
    if s.gpu_memory_fraction is not None:
        argv += ["--cuda-memory-fraction", _fraction(s.gpu_memory_fraction)]
    argv += ["--hostname", "0.0.0.0", "--port", str(stack.engine.serve_port)]
    return EngineCommand((*argv, *stack.engine.extra_args), (), None, serves_http=True)


def _ollama(stack: StackSpec, s: EngineSettings, node_index: int) -> EngineCommand:
    # Ollama sizes itself over all visible GPUs; tp and memory fraction have no flag.
    env: list[tuple[str, str]] = [("OLLAMA_HOST", f"0.0.0.0:{stack.engine.serve_port}")]
    if s.max_model_len is not None:
        env.append(("OLLAMA_CONTEXT_LENGTH", str(s.max_model_len)))
    return EngineCommand(("ollama", "serve", *stack.engine.extra_args), tuple(env), None, True)


_BUILDERS: dict[EngineKind, Callable[[StackSpec, EngineSettings, int], EngineCommand]] = {
    "vllm": _vllm,
    "sglang": _sglang,
    "tgi": _tgi,
    "ollama": _ollama,
}


def engine_command(stack: StackSpec, settings: EngineSettings, node_index: int) -> EngineCommand:
    """The container argv and environment for node `node_index` of `stack`."""
    return _BUILDERS[stack.engine.kind](stack, settings, node_index)
