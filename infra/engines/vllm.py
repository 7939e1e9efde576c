"""vLLM: TP inside a node, pipeline stages across nodes over Ray."""

from __future__ import annotations

from .base import (
    ApiKeySupport,
    EngineCommand,
    EngineDriver,
    MemoryProfile,
    RayRole,
    ServeInputs,
    fraction_flag,
    serving_port,
)
from .topology import Topology


def _topology(gpus_per_node: int, nodes: int) -> Topology:
    return Topology(
        tp=gpus_per_node, pp=nodes, nodes_per_replica=nodes, gpus_per_node=gpus_per_node
    )


def _command(s: ServeInputs) -> EngineCommand:
    t = s.topology
    role: RayRole | None = None if t.pp == 1 else ("head" if s.is_head else "worker")
    if role == "worker":
        return EngineCommand((), (), role, serves_http=False)
    argv = ["vllm", "serve", *s.served]
    # A local copy has no revision; the name clients send stays the model id.
    argv += ["--served-model-name", s.model_id] if s.model_path else ["--revision", s.revision]
    argv += ["--tensor-parallel-size", str(t.tp)]
    if t.pp > 1:
        argv += ["--pipeline-parallel-size", str(t.pp), "--distributed-executor-backend", "ray"]
    if t.ep > 1:
        # EP size is TP x DP in vLLM; the flag only switches MoE layers from slicing to placing.
        argv += ["--enable-expert-parallel"]
    if s.max_model_len is not None:
        argv += ["--max-model-len", str(s.max_model_len)]
    if s.memory_fraction is not None:
        argv += ["--gpu-memory-utilization", fraction_flag(s.memory_fraction)]
    argv += ["--host", "0.0.0.0", "--port", str(s.port)]
    return EngineCommand((*argv, *s.extra_args), (), role, serves_http=True)


def _batch_defaults(gpu_memory_bytes: int, gpu_model: str) -> tuple[int, int]:
    """vLLM v0.11.0's OpenAI-server defaults (max_num_batched_tokens, max_num_seqs) on a GPU.

    EngineArgs._set_default_args (vllm/engine/arg_utils.py) picks 8192 and 1024 on a GPU of at
    least 70 GiB whose name has no "a100", and 2048 and 256 elsewhere: larger budgets lowered
    A100 throughput (vLLM PR 17885). docs/serving-memory.md has the rest.
    """
    if gpu_memory_bytes >= 70 * 2**30 and "a100" not in gpu_model.lower():
        return 8192, 1024
    return 2048, 256


DRIVER = EngineDriver(
    kind="vllm",
    title="vLLM",
    example_model="deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B",
    images={
        "nvidia": ("vllm/vllm-openai", "v0.11.0"),
        "amd": ("rocm/vllm", "rocm6.4.1_vllm_0.10.1_20250909"),
    },
    port=8000,
    health_path="/health",
    container_cache="/root/.cache/huggingface",
    api_key=ApiKeySupport("VLLM_API_KEY", False, "vLLM reads VLLM_API_KEY from its environment"),
    # V1 engine: batch defaults by GPU (_batch_defaults; the fields are the A100 class's); graphs
    # about 1 GB and non-torch memory (NCCL, context) about 0.5 GB per GPU in its startup log.
    memory=MemoryProfile(
        batched_tokens=2048,
        max_seqs=256,
        batch_for_gpu=_batch_defaults,
        runtime_overhead_gb=1.5,
        mla_latent=True,
        fraction_covers_activations=True,
        default_fraction=lambda _gb, _t: 0.90,  # gpu_memory_utilization's default
    ),
    multi_node=True,
    expert_parallel=True,
    topology=_topology,
    command=_command,
    ports=serving_port,
)
