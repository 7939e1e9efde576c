"""GPU and host memory for full fine-tuning, LoRA and QLoRA."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from .architecture import Architecture
from .memory import GB
from .params import ParamCount

TrainTask = Literal["full", "lora", "qlora"]

# Mixed-precision Adam: bf16 weights (2) and gradients (2), fp32 master weights (4) and two
# fp32 moments (8).
FULL_BYTES_PER_PARAM = 16
OFFLOADABLE_BYTES_PER_PARAM = 12
"""Master weights and Adam moments: what ZeRO-Offload keeps in host memory."""
LORA_TRAINABLE_FRACTION = Fraction(1, 100)
"""Adapters on every linear layer at rank 16-64 come to about 1% of the base."""
NF4_BITS = Fraction(4) + Fraction(8, 64) + Fraction(32, 64 * 256)
"""QLoRA's NF4: 4 bits, an 8-bit scale per 64 weights, an fp32 scale per 256 of those."""
GPU_OVERHEAD_BYTES = 2 * GB
"""CUDA context, NCCL and allocator fragmentation per GPU."""
GPU_USABLE = 0.95
HOST_USABLE = 0.85
"""The OS, page cache and pinned staging buffers keep the rest of host memory."""


@dataclass(frozen=True)
class TrainMemory:
    """Bytes a fine-tuning task needs, before sharding over GPUs."""

    weights: int
    """The base model's weights as trained (bf16, or NF4 for QLoRA)."""
    states: int
    """Everything ZeRO-3 shards over GPUs: weights, gradients, optimizer states."""
    offloadable: int
    """Of `states`, what ZeRO-Offload can hold in host memory instead."""


def train_memory(p: ParamCount, task: TrainTask) -> TrainMemory:
    """Weights, gradients and optimizer states for `task`."""
    if task == "full":
        return TrainMemory(
            weights=2 * p.total,
            states=FULL_BYTES_PER_PARAM * p.total,
            offloadable=OFFLOADABLE_BYTES_PER_PARAM * p.total,
        )
    trainable = math.ceil(p.total * LORA_TRAINABLE_FRACTION)
    if task == "lora":
        base = 2 * p.total
    else:  # QLoRA quantizes the linear layers; embeddings and norms stay 16-bit.
        base = math.ceil(p.quantizable * NF4_BITS / 8) + (p.embeddings + p.small) * 2
    return TrainMemory(
        weights=base,
        states=base + FULL_BYTES_PER_PARAM * trainable,
        offloadable=OFFLOADABLE_BYTES_PER_PARAM * trainable,
    )


def activation_bytes(a: Architecture, seq_len: int, batch: int) -> int:
    """Activations per GPU for one micro-batch, with gradient checkpointing on.

    Checkpointing keeps each layer's bf16 input (2*s*b*h per layer) and recomputes one layer at
    a time, whose activations are 34*s*b*h with flash attention (Korthikanti et al. 2022,
    without the s^2 attention term flash attention avoids); plus fp32 logits and their gradient.
    """
    sbh = seq_len * batch * a.hidden_size
    return a.layers * 2 * sbh + 34 * sbh + 2 * seq_len * batch * a.vocab_size * 4
