"""SGLang: one tensor-parallel group over every GPU of a replica, nodes joined by dist-init."""

from __future__ import annotations

from .args import Arg, NodeVar
from .base import (
    HEAD_IP,
    ApiKeySupport,
    EngineCommand,
    EngineDriver,
    MemoryProfile,
    ServeInputs,
    fraction_flag,
    serving_port,
)
from .topology import Topology

DIST_INIT_PORT = 20000


def _topology(gpus_per_node: int, nodes: int) -> Topology:
    # --tp is the replica's GPU count: under TP16 every GPU keeps all layers of the KV cache.
    tp = gpus_per_node * nodes
    return Topology(tp=tp, pp=1, nodes_per_replica=nodes, gpus_per_node=gpus_per_node)


def _default_fraction(gpu_gib: float, t: Topology) -> float:
    """mem_fraction_static as SGLang v0.5.4 computes it when the flag is absent.

    sgl-project/sglang python/sglang/srt/server_args.py, ServerArgs._handle_gpu_memory_settings:
    the GPU's memory in MiB (vendors' "80 GB" is about 80 GiB) less a reserve for activations
    and CUDA graphs, which grows with the prefill chunk and graph batch its memory class picks,
    and by 1 GiB per 8 ranks of TP x PP; at least 10 GiB above 60 GiB. No DP attention and no
    speculative decoding here. An H100 80 GB at TP8 gets about 0.82, an H200 about 0.90.
    """
    mib = gpu_gib * 1024  # SGLang reads the GPU's total in MiB (get_device_memory_capacity)
    if mib < 20 * 1024:
        chunk, graph_bs = 2048, 8
    elif mib < 35 * 1024:
        chunk, graph_bs = 2048, 24 if t.tp < 4 else 80
    elif mib < 60 * 1024:
        chunk, graph_bs = 4096, 32 if t.tp < 4 else 160
    elif mib < 160 * 1024:
        chunk, graph_bs = 8192, 256 if t.tp < 4 else 512
    else:
        chunk, graph_bs = 16384, 512
    reserved = 512 + max(chunk, 2048) * 1.5 + graph_bs * 2 + t.tp * t.pp / 8 * 1024
    if mib > 60 * 1024:
        reserved = max(reserved, 10 * 1024)
    return round((mib - reserved) / mib, 3)


def _ports(s: ServeInputs) -> tuple[int, ...]:
    # Rank 0 of a multi-node replica also hosts the torch.distributed rendezvous the other
    # ranks dial (--dist-init-addr HEAD:DIST_INIT_PORT).
    dist = (DIST_INIT_PORT,) if s.is_head and s.topology.nodes_per_replica > 1 else ()
    return (*serving_port(s), *dist)


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
    title="SGLang",
    example_model="deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B",
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
    ports=_ports,
    # /health runs a one-token generation before it answers (SGLang's http_server.py
    # health_generate), which takes seconds on a loaded server; OCI's 3 s default flaps.
    health_timeout_ms=10_000,
)
