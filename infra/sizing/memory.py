"""The memory model: weights, KV cache per token, and what each engine keeps for itself.

All sizes are in bytes and GB means 10^9 bytes. A GPU's capacity is what the driver reports
(Shape.gpu_memory_bytes: an "80 GB" H100 gives CUDA 85,017,493,504 bytes, 79.18 GiB), because
engines size their KV cache from that figure, not from the marketing label.
"""

from __future__ import annotations

import math
from fractions import Fraction

from ..catalog.shapes import Shape
from ..engines import EngineKind, Topology, driver
from .architecture import Architecture
from .params import ParamCount
from .precision import BITS, GGUF_FOR, GGUF_QUANTS, Precision

GB = 10**9
KV_DTYPE_BYTES = 2
"""Every engine's default KV cache dtype is the activation dtype (16 bit), even for FP8 weights."""


def gguf_quant(precision: Precision, tag_quant: str | None) -> str | None:
    """The GGUF file Ollama would pull: the tag's own quant, else the usual one for `precision`."""
    return tag_quant or GGUF_FOR.get(precision)


def weight_bits(precision: Precision, engine: EngineKind, tag_quant: str | None = None) -> Fraction:
    """Bits per quantized weight as `engine` stores them."""
    if driver(engine).gguf:
        quant = gguf_quant(precision, tag_quant)
        if quant is None:
            raise ValueError(f"{engine} has no {precision} GGUF builds")
        return GGUF_QUANTS[quant].bits
    return BITS[precision]


def weight_bytes(
    p: ParamCount, precision: Precision, engine: EngineKind, tag_quant: str | None = None
) -> int:
    """Bytes of weights: quantized linear layers at their bits, the rest at 16 bit.

    GGUF quantizes every tensor, so for a GGUF engine the whole count takes the file's average bits.
    """
    bits = weight_bits(precision, engine, tag_quant)
    if driver(engine).gguf or bits == 16:
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
        if driver(engine).memory.mla_latent:
            # The latent is not split by heads: every tensor-parallel rank keeps all of it.
            return (m.kv_lora_rank + m.qk_rope_head_dim) * KV_DTYPE_BYTES
        per_head = m.qk_nope_head_dim + m.qk_rope_head_dim + m.v_head_dim
        return math.ceil(a.attention_heads / tp) * per_head * KV_DTYPE_BYTES
    # With more ranks than KV heads, each rank keeps a copy of one head.
    return 2 * math.ceil(a.kv_heads / tp) * a.head_dim * KV_DTYPE_BYTES


def kv_bytes_per_token_per_gpu(a: Architecture, engine: EngineKind, topology: Topology) -> int:
    """KV bytes of one token on the busiest GPU of a replica laid out as `topology`.

    Pipeline stages (and Ollama's layer split) give each GPU a slice of the layers; a tensor-
    parallel group shares each layer's heads, but not MLA's latent, which every rank keeps whole.
    """
    return math.ceil(a.layers / topology.layer_stages) * _kv_per_layer(a, engine, topology.tp)


def activation_bytes(a: Architecture, engine: EngineKind, tp: int, shape: Shape) -> int:
    """Peak activation memory per GPU of `shape` during the largest forward pass.

    An estimate calibrated on vLLM's profiling log (about 1.1 GB for an 8B Llama at 8192
    batched tokens): a few hidden-size buffers, the MLP intermediate split by tensor parallel,
    and fp32 logits for each sampled sequence. The batch is the engine's default on that GPU.
    """
    batched_tokens, max_seqs = driver(engine).memory.batch(shape.gpu_memory_bytes, shape.gpu_model)
    ffn = a.intermediate_size
    if a.moe is not None:
        routed = a.moe.experts_per_token + a.moe.shared_experts
        ffn = max(ffn, routed * a.moe.expert_intermediate_size)
    per_token = 8 * a.hidden_size + 2 * math.ceil(ffn / tp)
    return batched_tokens * per_token * 2 + max_seqs * a.vocab_size * 4


def overhead_bytes(engine: EngineKind) -> int:
    """CUDA graphs, communication buffers and context per GPU."""
    return int(driver(engine).memory.runtime_overhead_gb * GB)
