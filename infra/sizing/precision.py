"""Bits per weight for each serving precision and checkpoint format."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ..specs.model import Precision

__all__ = ["BITS", "GGUF_QUANTS", "PRECISIONS", "GgufQuant", "Precision", "bits_rank"]

PRECISIONS: tuple[Precision, ...] = ("bf16", "fp16", "fp8", "int8", "int4")

# Bits per quantized weight in Hugging Face checkpoints (vLLM, SGLang, TGI). Exact fractions so
# the weight formula is exact and testable.
BITS: dict[Precision, Fraction] = {
    "bf16": Fraction(16),
    "fp16": Fraction(16),
    # Block-scaled FP8 as DeepSeek ships it: one fp32 scale per 128x128 block adds 0.002 bits
    # per weight, below the rounding of any GB figure, so it is left out.
    "fp8": Fraction(8),
    # W8A8 / GPTQ-int8: per-channel scales, again negligible.
    "int8": Fraction(8),
    # AWQ and GPTQ 4-bit with group size 128: each group adds a 16-bit scale and a 4-bit zero.
    "int4": Fraction(4) + Fraction(16 + 4, 128),
}


@dataclass(frozen=True)
class GgufQuant:
    """A GGUF quantization as Ollama pulls it: its average bits per weight, over all tensors."""

    name: str
    precision: Precision
    bits: Fraction


# Averages over a whole GGUF file, embeddings included (llama.cpp quantizes them too):
# Q4_K_M mixes Q4_K and Q6_K blocks; Ollama's deepseek-r1:70b is 43 GB for 70.55B weights,
# which is 4.89 bits. Q4_0 and Q8_0 are 32-weight blocks with one fp16 scale.
GGUF_QUANTS: dict[str, GgufQuant] = {
    "Q4_K_M": GgufQuant("Q4_K_M", "int4", Fraction("4.89")),
    "Q4_0": GgufQuant("Q4_0", "int4", Fraction("4.5")),
    "Q8_0": GgufQuant("Q8_0", "int8", Fraction("8.5")),
    "F16": GgufQuant("F16", "fp16", Fraction(16)),
}

# The GGUF Ollama uses for a precision when the tag does not say.
GGUF_FOR: dict[Precision, str] = {"int4": "Q4_K_M", "int8": "Q8_0", "fp16": "F16", "bf16": "F16"}


def bits_rank(p: Precision) -> int:
    """Order precisions by bits per weight: a lower rank never needs more memory."""
    return int(BITS[p])
