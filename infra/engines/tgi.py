"""Text Generation Inference: one node, sharded over its GPUs."""

from __future__ import annotations

from .base import (
    ApiKeySupport,
    EngineCommand,
    EngineDriver,
    MemoryProfile,
    ServeInputs,
    fraction_flag,
    serving_port,
)
from .topology import Topology


def _topology(gpus_per_node: int, nodes: int) -> Topology:
    return Topology(tp=gpus_per_node, pp=1, nodes_per_replica=nodes, gpus_per_node=gpus_per_node)


def _command(s: ServeInputs) -> EngineCommand:
    argv = ["text-generation-launcher", "--model-id", *s.served]
    # A local copy has no revision. TGI's launcher (3.3) has no served-name flag: /v1/models
    # shows the local path, and requests may name any model (it serves only one).
    argv += [] if s.model_path else ["--revision", s.revision]
    argv += ["--num-shard", str(s.topology.tp)]
    if s.max_model_len is not None:
        # TGI needs room for at least one generated token beyond the prompt.
        argv += ["--max-total-tokens", str(s.max_model_len)]
        argv += ["--max-input-tokens", str(s.max_model_len - 1)]
    if s.memory_fraction is not None:
        argv += ["--cuda-memory-fraction", fraction_flag(s.memory_fraction)]
    argv += ["--hostname", "0.0.0.0", "--port", str(s.port)]
    return EngineCommand((*argv, *s.extra_args), (), None, serves_http=True)


DRIVER = EngineDriver(
    kind="tgi",
    title="TGI",
    example_model="deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B",
    images={
        "nvidia": ("ghcr.io/huggingface/text-generation-inference", "3.3.6"),
        "amd": ("ghcr.io/huggingface/text-generation-inference", "3.3.6-rocm"),
    },
    port=8080,
    health_path="/health",
    container_cache="/data",
    api_key=ApiKeySupport("API_KEY", False, "TGI's launcher reads --api-key from env API_KEY"),
    # max_batch_prefill_tokens 4096; it caches MLA as full per-head K and V.
    memory=MemoryProfile(
        batched_tokens=4096,
        max_seqs=128,
        runtime_overhead_gb=1.0,
        mla_latent=False,
        fraction_covers_activations=True,
        # cuda_memory_fraction defaults to 1.0; plan on 95% for the driver and fragmentation.
        default_fraction=lambda _gb, _t: 0.95,
        reports_fraction=False,
    ),
    multi_node=False,
    expert_parallel=False,
    topology=_topology,
    command=_command,
    ports=serving_port,
)
