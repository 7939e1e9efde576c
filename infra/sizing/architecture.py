"""A model's architecture, read from the fields of a Hugging Face config.json."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class MoE:
    """Mixture-of-experts feed-forward (DeepSeek-V2/V3 layout)."""

    routed_experts: int
    shared_experts: int
    experts_per_token: int
    expert_intermediate_size: int
    first_dense_layers: int
    """`first_k_dense_replace`: these first layers keep a dense MLP."""
    layer_freq: int = 1


@dataclass(frozen=True)
class MLA:
    """Multi-head latent attention: K and V come from one compressed latent per token."""

    q_lora_rank: int | None
    kv_lora_rank: int
    qk_nope_head_dim: int
    qk_rope_head_dim: int
    v_head_dim: int


@dataclass(frozen=True)
class Architecture:
    """What sizing needs of a decoder-only transformer."""

    model_type: str
    layers: int
    hidden_size: int
    intermediate_size: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    vocab_size: int
    max_position_embeddings: int
    tie_word_embeddings: bool
    qkv_bias: bool
    moe: MoE | None = None
    mla: MLA | None = None

    def is_moe_layer(self, layer: int) -> bool:
        """Whether layer `layer` (0-based) has routed experts, as DeepSeek's code decides."""
        if self.moe is None:
            return False
        return layer >= self.moe.first_dense_layers and layer % self.moe.layer_freq == 0

    @property
    def moe_layers(self) -> int:
        return sum(self.is_moe_layer(i) for i in range(self.layers))


#: What a real config.json holds, generously: anything outside is a typo or an attack, and
#: zeros would divide by zero while layer counts in the trillions would loop for hours.
_RANGES: dict[str, tuple[int, int]] = {
    "hidden_size": (1, 1 << 20),
    "num_attention_heads": (1, 1 << 16),
    "num_key_value_heads": (1, 1 << 16),
    "num_hidden_layers": (1, 10_000),
    "intermediate_size": (1, 1 << 22),
    "head_dim": (1, 1 << 16),
    "vocab_size": (1, 1 << 24),
    "max_position_embeddings": (1, 1 << 30),
    "n_routed_experts": (1, 1 << 16),
    "n_shared_experts": (0, 1 << 16),
    "num_experts_per_tok": (1, 1 << 16),
    "moe_intermediate_size": (1, 1 << 22),
    "first_k_dense_replace": (0, 10_000),
    "moe_layer_freq": (0, 10_000),
    "q_lora_rank": (1, 1 << 20),
    "kv_lora_rank": (1, 1 << 20),
    "qk_nope_head_dim": (0, 1 << 16),
    "qk_rope_head_dim": (0, 1 << 16),
    "v_head_dim": (1, 1 << 16),
}


def _int(cfg: Mapping[str, Any], key: str, default: int | None = None) -> int:
    value = cfg.get(key, default)
    if value is None:
        raise ValueError(f"config.json has no {key!r}")
    low, high = _RANGES[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(
            f"config.json field {key!r} = {value!r}: use a whole number from {low:,} to {high:,}"
        )
    return value


def from_config(cfg: Mapping[str, Any]) -> Architecture:
    """The architecture described by a config.json mapping; ValueError names a missing field.

    Multimodal configs nest the language model under `text_config`; that part is what serves.
    """
    if isinstance(cfg.get("text_config"), Mapping):
        cfg = {**cfg, **cfg["text_config"]}
    model_type = str(cfg.get("model_type", "unknown"))
    hidden = _int(cfg, "hidden_size")
    heads = _int(cfg, "num_attention_heads")
    kv_heads = _int(cfg, "num_key_value_heads", heads)
    if heads % kv_heads:
        raise ValueError(
            f"config.json field 'num_key_value_heads' = {kv_heads}: must divide "
            f"num_attention_heads ({heads})"
        )
    moe: MoE | None = None
    if cfg.get("n_routed_experts"):
        moe = MoE(
            routed_experts=_int(cfg, "n_routed_experts"),
            shared_experts=_int(cfg, "n_shared_experts", 0),
            experts_per_token=_int(cfg, "num_experts_per_tok"),
            expert_intermediate_size=_int(cfg, "moe_intermediate_size"),
            first_dense_layers=_int(cfg, "first_k_dense_replace", 0),
            layer_freq=_int(cfg, "moe_layer_freq", 1) or 1,
        )
    mla: MLA | None = None
    if cfg.get("kv_lora_rank"):
        q_rank = cfg.get("q_lora_rank")
        mla = MLA(
            q_lora_rank=_int(cfg, "q_lora_rank") if q_rank is not None else None,
            kv_lora_rank=_int(cfg, "kv_lora_rank"),
            qk_nope_head_dim=_int(cfg, "qk_nope_head_dim"),
            qk_rope_head_dim=_int(cfg, "qk_rope_head_dim"),
            v_head_dim=_int(cfg, "v_head_dim"),
        )
    # Llama and Qwen2 configs often omit head_dim: their code uses hidden_size / heads.
    head_dim = _int(cfg, "head_dim") if cfg.get("head_dim") else hidden // heads
    if head_dim < 1:
        raise ValueError(
            f"config.json field 'hidden_size' = {hidden}: smaller than num_attention_heads "
            f"({heads}); set head_dim or a larger hidden_size"
        )
    return Architecture(
        model_type=model_type,
        layers=_int(cfg, "num_hidden_layers"),
        hidden_size=hidden,
        intermediate_size=_int(cfg, "intermediate_size"),
        attention_heads=heads,
        kv_heads=kv_heads,
        head_dim=head_dim,
        vocab_size=_int(cfg, "vocab_size"),
        max_position_embeddings=_int(cfg, "max_position_embeddings", 4096),
        tie_word_embeddings=bool(cfg.get("tie_word_embeddings", False)),
        # Qwen2 always adds biases to q, k and v; its config.json has no field saying so.
        qkv_bias=bool(cfg.get("attention_bias", model_type == "qwen2")),
        moe=moe,
        mla=mla,
    )
