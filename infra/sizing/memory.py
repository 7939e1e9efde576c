"""The memory model: weights, KV cache per token, and what each engine keeps for itself.

All sizes are in bytes and GB means 10^9 bytes, as the shape catalog's GPU sizes are read:
an "80 GB" H100 exposes 79.6 GiB = 85.5e9 bytes, so reading the catalog in 10^9 bytes errs on
the safe side for every shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from ..specs.engine import EngineKind
from .architecture import Architecture
from .params import ParamCount
from .precision import BITS, GGUF_FOR, GGUF_QUANTS, Precision

GB = 10**9
KV_DTYPE_BYTES = 2
"""Every engine's default KV cache dtype is the activation dtype (16 bit), even for FP8 weights."""


@dataclass(frozen=True)
class EngineProfile:
    """How one engine spends GPU memory, with the defaults it ships."""

    kind: EngineKind
    batched_tokens: int
    """Tokens in one forward pass at its peak (prefill chunk), which sizes the activation peak."""
    max_seqs: int
    """Sequences sampled at once: each needs a row of fp32 logits."""
    runtime_overhead_gb: float
    """CUDA graphs, NCCL buffers and the CUDA context, per GPU."""
    mla_latent: bool
    """Caches MLA's compressed latent (576 values a layer) instead of per-head K and V."""
    multi_node: bool
    fraction_covers_activations: bool
    """vLLM's gpu_memory_utilization bounds everything; SGLang's mem_fraction_static only
    weights and KV, and the rest of the GPU must hold activations and CUDA graphs."""
    default_context: int | None = None
    """A context the engine uses when told nothing (Ollama's num_ctx); None: the model's maximum."""

    def default_fraction(self, gpu_memory_gb: float) -> float:
        """The engine's default memory share on a GPU of this size."""
        if self.kind == "vllm":
            return 0.90  # vLLM's gpu_memory_utilization default
        if self.kind == "sglang":
            # SGLang sizes mem_fraction_static from the GPU: about 0.88 on 141-192 GB parts,
            # 0.85 on 80 GB, lower on small GPUs where activations are a larger share.
            if gpu_memory_gb >= 120:
                return 0.88
            return 0.85 if gpu_memory_gb >= 60 else 0.80
        # TGI's cuda_memory_fraction defaults to 1.0 and Ollama fills what it finds; both leave
        # a little to the driver and allocator fragmentation, so plan on 95%.
        return 0.95


ENGINES: dict[EngineKind, EngineProfile] = {
    # vLLM V1: max_num_batched_tokens 8192 and max_num_seqs 256 for the OpenAI server; graphs
    # about 1 GB and non-torch memory (NCCL, context) about 0.5 GB per GPU in its startup log.
    "vllm": EngineProfile("vllm", 8192, 256, 1.5, True, True, True),
    # SGLang: chunked_prefill_size 8192, cuda graphs up to batch 160-256.
    "sglang": EngineProfile("sglang", 8192, 256, 1.5, True, True, False),
    # TGI: max_batch_prefill_tokens 4096; it caches MLA as full per-head K and V.
    "tgi": EngineProfile("tgi", 4096, 128, 1.0, False, False, True),
    # Ollama (llama.cpp): num_batch 512, one sequence, default num_ctx 4096, per-head K/V.
    "ollama": EngineProfile("ollama", 512, 1, 0.5, False, False, True, default_context=4096),
}


def gguf_quant(precision: Precision, tag_quant: str | None) -> str | None:
    """The GGUF file Ollama would pull: the tag's own quant, else the usual one for `precision`."""
    return tag_quant or GGUF_FOR.get(precision)


def weight_bits(precision: Precision, engine: EngineKind, tag_quant: str | None = None) -> Fraction:
    """Bits per quantized weight as `engine` stores them."""
    if engine == "ollama":
        quant = gguf_quant(precision, tag_quant)
        if quant is None:
            raise ValueError(f"Ollama has no {precision} GGUF builds")
        return GGUF_QUANTS[quant].bits
    return BITS[precision]


def weight_bytes(
    p: ParamCount, precision: Precision, engine: EngineKind, tag_quant: str | None = None
) -> int:
    """Bytes of weights: quantized linear layers at their bits, the rest at 16 bit.

    GGUF quantizes every tensor, so for Ollama the whole count takes the file's average bits.
    """
    bits = weight_bits(precision, engine, tag_quant)
    if engine == "ollama" or bits == 16:
        return math.ceil(p.total * bits / 8)
    return math.ceil(p.quantizable * bits / 8) + (p.embeddings + p.small) * 2


def kv_bytes_per_token(a: Architecture, engine: EngineKind) -> int:
    """KV-cache bytes one token takes across the whole model (all layers, all heads).

    GQA: K and V for each KV head. MLA in vLLM/SGLang: one latent of kv_lora_rank values plus
    the shared rope key. MLA elsewhere: K (nope + rope) and V for every attention head.
    """
    return a.layers * _kv_per_layer(a, engine, tp=1)


def _kv_per_layer(a: Architecture, engine: EngineKind, tp: int) -> int:
    if a.mla is not None:
        m = a.mla
        if ENGINES[engine].mla_latent:
            # The latent is not split by heads: every tensor-parallel rank keeps all of it.
            return (m.kv_lora_rank + m.qk_rope_head_dim) * KV_DTYPE_BYTES
        per_head = m.qk_nope_head_dim + m.qk_rope_head_dim + m.v_head_dim
        return math.ceil(a.attention_heads / tp) * per_head * KV_DTYPE_BYTES
    # With more ranks than KV heads, each rank keeps a copy of one head.
    return 2 * math.ceil(a.kv_heads / tp) * a.head_dim * KV_DTYPE_BYTES


def kv_bytes_per_token_per_gpu(
    a: Architecture, engine: EngineKind, tp: int, pp: int, layer_split: int = 1
) -> int:
    """KV bytes of one token on the busiest GPU of a replica.

    `layer_split` is Ollama's way of using several GPUs: whole layers on each, like pipelining.
    """
    stages = pp * layer_split
    return math.ceil(a.layers / stages) * _kv_per_layer(a, engine, tp)


def activation_bytes(a: Architecture, engine: EngineKind, tp: int) -> int:
    """Peak activation memory per GPU during the largest forward pass.

    An estimate calibrated on vLLM's profiling log (about 1.1 GB for an 8B Llama at 8192
    batched tokens): a few hidden-size buffers, the MLP intermediate split by tensor parallel,
    and fp32 logits for each sampled sequence.
    """
    e = ENGINES[engine]
    ffn = a.intermediate_size
    if a.moe is not None:
        routed = a.moe.experts_per_token + a.moe.shared_experts
        ffn = max(ffn, routed * a.moe.expert_intermediate_size)
    per_token = 8 * a.hidden_size + 2 * math.ceil(ffn / tp)
    return e.batched_tokens * per_token * 2 + e.max_seqs * a.vocab_size * 4


def overhead_bytes(engine: EngineKind) -> int:
    """CUDA graphs, communication buffers and context per GPU."""
    return int(ENGINES[engine].runtime_overhead_gb * GB)
