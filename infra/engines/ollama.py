"""Ollama (llama.cpp): one GPU if the model fits there, else whole layers over all of them."""

from __future__ import annotations

from .base import (
    EngineCommand,
    EngineDriver,
    MemoryProfile,
    ModelPull,
    ServeInputs,
    serving_port,
)
from .topology import Topology


def _topology(gpus_per_node: int, nodes: int) -> Topology:
    # No tensor parallelism: llama.cpp splits whole layers over the GPUs it is given.
    return Topology(
        tp=1, pp=1, nodes_per_replica=nodes, gpus_per_node=gpus_per_node, layer_split=gpus_per_node
    )


def _command(s: ServeInputs) -> EngineCommand:
    # Ollama sizes itself over all visible GPUs; TP and memory fraction have no flag.
    env: list[tuple[str, str]] = [("OLLAMA_HOST", f"0.0.0.0:{s.port}")]
    # Ollama unloads a model after 5 idle minutes by default (envconfig OLLAMA_KEEP_ALIVE), and
    # reloading a 43 GB model takes minutes: a negative value keeps it loaded for good.
    env.append(("OLLAMA_KEEP_ALIVE", "-1"))
    if s.max_model_len is not None:
        env.append(("OLLAMA_CONTEXT_LENGTH", str(s.max_model_len)))
    return EngineCommand(("ollama", "serve", *s.extra_args), tuple(env), None, serves_http=True)


DRIVER = EngineDriver(
    kind="ollama",
    title="Ollama",
    example_model="deepseek-r1:1.5b",
    images={"nvidia": ("ollama/ollama", "0.12.6"), "amd": ("ollama/ollama", "0.12.6-rocm")},
    port=11434,
    health_path="/",
    container_cache="/root/.ollama",
    # No API-key option at all: the endpoint is protected only by api_allowed_cidrs.
    api_key=None,
    # num_batch 512, one sequence, default num_ctx 4096, per-head K/V.
    memory=MemoryProfile(
        batched_tokens=512,
        max_seqs=1,
        runtime_overhead_gb=0.5,
        mla_latent=False,
        fraction_covers_activations=True,
        default_fraction=lambda _gb, _t: 0.95,  # fills what it finds; leave the driver a little
        default_context=4096,
        reports_fraction=False,
    ),
    multi_node=False,
    expert_parallel=False,
    topology=_topology,
    command=_command,
    ports=serving_port,
    # GET /api/version answers as soon as the server listens; `ollama pull` is a client of it.
    pull=ModelPull(up_path="/api/version", argv=("ollama", "pull"), address_env="OLLAMA_HOST"),
    gguf=True,
    tensor_parallel=False,
)
