"""Parameter counts from an architecture: total, active per token, and which stay 16-bit."""

from __future__ import annotations

from dataclasses import dataclass

from .architecture import Architecture


@dataclass(frozen=True)
class ParamCount:
    """Parameters of one model, split the way quantized checkpoints split them."""

    total: int
    active: int
    """Parameters one token passes through (all of them for a dense model)."""
    embeddings: int
    """Input embedding plus output head: quantized checkpoints (AWQ, GPTQ, FP8) keep them 16-bit."""
    small: int
    """Norms and router gates: also kept 16-bit (or fp32) by quantized checkpoints."""
    routed_experts: int
    """Parameters in routed experts, which expert parallelism spreads across GPUs."""

    @property
    def quantizable(self) -> int:
        """The linear-layer weights a quantized checkpoint stores at low precision."""
        return self.total - self.embeddings - self.small


def _attention(a: Architecture) -> int:
    h = a.hidden_size
    if a.mla is not None:
        m = a.mla
        qk_head = m.qk_nope_head_dim + m.qk_rope_head_dim
        if m.q_lora_rank is None:
            q = h * a.attention_heads * qk_head
        else:  # q_a_proj, q_b_proj (q_a_layernorm is counted with the norms)
            q = h * m.q_lora_rank + m.q_lora_rank * a.attention_heads * qk_head
        # kv_a_proj_with_mqa; kv_a_layernorm is counted with the norms (_norms_in_attention).
        kv_a = h * (m.kv_lora_rank + m.qk_rope_head_dim)
        kv_b = m.kv_lora_rank * a.attention_heads * (m.qk_nope_head_dim + m.v_head_dim)
        o = a.attention_heads * m.v_head_dim * h
        return q + kv_a + kv_b + o
    q = h * a.attention_heads * a.head_dim
    kv = 2 * h * a.kv_heads * a.head_dim
    o = a.attention_heads * a.head_dim * h
    bias = (a.attention_heads + 2 * a.kv_heads) * a.head_dim if a.qkv_bias else 0
    return q + kv + o + bias


def _norms_in_attention(a: Architecture) -> int:
    """The layernorms inside MLA (q_a and kv_a), which count as small, not quantizable."""
    if a.mla is None:
        return 0
    return (a.mla.q_lora_rank or 0) + a.mla.kv_lora_rank


def count(a: Architecture) -> ParamCount:
    """Count every weight the model's modeling code creates (MTP modules excluded).

    DeepSeek-V3/R1 ship one extra multi-token-prediction layer (`num_nextn_predict_layers`);
    the published 671B leaves it out and engines load it only for speculative decoding.
    """
    h = a.hidden_size
    swiglu = 3 * h  # gate, up and down projections per unit of intermediate size
    attention = _attention(a)
    total = active = small = routed = 0
    for layer in range(a.layers):
        norms = 2 * h + _norms_in_attention(a)
        if a.is_moe_layer(layer):
            assert a.moe is not None
            m = a.moe
            expert = swiglu * m.expert_intermediate_size
            gate = m.routed_experts * h
            # V3's router also learns a per-expert bias (e_score_correction_bias).
            gate_bias = m.routed_experts if a.model_type == "deepseek_v3" else 0
            mlp = (m.routed_experts + m.shared_experts) * expert + gate + gate_bias
            mlp_active = (m.experts_per_token + m.shared_experts) * expert + gate + gate_bias
            routed += m.routed_experts * expert
            small += gate + gate_bias
        else:
            mlp = mlp_active = swiglu * a.intermediate_size
        total += attention + mlp + norms
        active += attention + mlp_active + norms
        small += norms
    embeddings = a.vocab_size * h * (1 if a.tie_word_embeddings else 2)
    final_norm = h
    total += embeddings + final_norm
    active += embeddings + final_norm
    small += final_norm
    return ParamCount(
        total=total, active=active, embeddings=embeddings, small=small, routed_experts=routed
    )
