"""SGLang: one tensor-parallel group over every GPU of a replica, nodes joined by dist-init."""

from __future__ import annotations

from ..render.args import Arg, NodeVar
from .base import (
    HEAD_IP,
    ApiKeySupport,
    EngineCommand,
    EngineDriver,
    MemoryProfile,
    ServeInputs,
    fraction_flag,
)
from .topology import Topology

DIST_INIT_PORT = 20000


def _topology(gpus_per_node: int, nodes: int) -> Topology:
    # --tp is the replica's GPU count: under TP16 every GPU keeps all layers of the KV cache.
    tp = gpus_per_node * nodes
    return Topology(tp=tp, pp=1, nodes_per_replica=nodes, gpus_per_node=gpus_per_node)


def _default_fraction(gpu_memory_gb: float) -> float:
    # SGLang sizes mem_fraction_static from the GPU: about 0.88 on 141-192 GB parts,
    # 0.85 on 80 GB, lower on small GPUs where activations are a larger share.
    if gpu_memory_gb >= 120:
        return 0.88
    return 0.85 if gpu_memory_gb >= 60 else 0.80


def _command(s: ServeInputs) -> EngineCommand:
    t = s.topology
    argv: list[Arg] = ["python3", "-m", "sglang.launch_server", "--model-path", *s.served]
    argv += ["--served-model-name", s.model_id] if s.model_path else ["--revision", s.revision]
    argv += ["--tp-size", str(t.tp)]
    if t.ep > 1:
        argv += ["--ep-size", str(t.ep)]
    if t.nodes_per_replica > 1:
        argv += ["--dist-init-addr", NodeVar(HEAD_IP.name, f":{DIST_INIT_PORT}")]
        argv += ["--nnodes", str(t.nodes_per_replica), "--node-rank", str(s.rank)]
    if s.max_model_len is not None:
        argv += ["--context-length", str(s.max_model_len)]
    if s.memory_fraction is not None:
        argv += ["--mem-fraction-static", fraction_flag(s.memory_fraction)]
    argv += ["--host", "0.0.0.0", "--port", str(s.port)]
    return EngineCommand((*argv, *s.extra_args), (), None, serves_http=s.is_head)


DRIVER = EngineDriver(
    kind="sglang",
    images={
        "nvidia": ("lmsysorg/sglang", "v0.5.4-cu126"),
        "amd": ("lmsysorg/sglang", "v0.5.4-rocm630-mi30x"),
    },
    port=30000,
    health_path="/health",
    container_cache="/root/.cache/huggingface",
    api_key=ApiKeySupport(
        "GPUFORM_API_KEY", True, "SGLang takes --api-key only on its command line"
    ),
    # chunked_prefill_size 8192, CUDA graphs up to batch 160-256.
    memory=MemoryProfile(
        batched_tokens=8192,
        max_seqs=256,
        runtime_overhead_gb=1.5,
        mla_latent=True,
        fraction_covers_activations=False,
        default_fraction=_default_fraction,
    ),
    multi_node=True,
    expert_parallel=True,
    topology=_topology,
    command=_command,
)
