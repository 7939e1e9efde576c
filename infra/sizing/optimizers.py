"""What each optimizer a fine-tune may run keeps on the GPU, per parameter it trains.

Measured on an H200 by bench/gpu_memory.py (bench/results/gpu_memory_h200.json,
docs/gpu-memory.md). The planner's `--optimizer` and a training stack's `training.optimizer`
name one of these.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

Optimizer = Literal["adamw-fused", "adamw-foreach", "adamw-8bit"]
DEFAULT_OPTIMIZER: Optimizer = "adamw-fused"


@dataclass(frozen=True)
class OptimizerMemory:
    """Bytes per trained parameter that an optimizer holds, and what its step adds."""

    name: Optimizer
    label: str
    """How a plan names it."""
    runs_as: str
    """What selects it in the trainers that use it."""
    state_bytes: Fraction
    """Optimizer state per trained parameter, kept between steps."""
    step_bytes: Fraction
    """Temporaries its step allocates per trained parameter, freed when the step ends."""
    offloads: bool
    """Whether a plan may move its states to host memory with ZeRO-Offload, which DeepSpeed
    runs with its own CPU Adam in place of the trainer's fused Adam; nothing offloads a plain
    PyTorch loop's foreach AdamW or bitsandbytes' 8-bit states."""


OPTIMIZERS: dict[Optimizer, OptimizerMemory] = {
    "adamw-fused": OptimizerMemory(
        name="adamw-fused",
        label="AdamW (fused)",
        runs_as="torch.optim.AdamW(fused=True); HF Trainer's adamw_torch_fused, its default "
        "on torch 2.8 and later; DeepSpeed's and Megatron's fused Adam",
        # Two fp32 moments. The fused kernel updates each tensor in place.
        state_bytes=Fraction(8),
        step_bytes=Fraction(0),
        offloads=True,
    ),
    "adamw-foreach": OptimizerMemory(
        name="adamw-foreach",
        label="AdamW (foreach)",
        runs_as="torch.optim.AdamW() with neither flag on CUDA, as a plain PyTorch loop gets it; "
        "HF Trainer's adamw_torch on torch before 2.8",
        state_bytes=Fraction(8),
        # torch/optim/adamw.py's _multi_tensor_adamw takes torch._foreach_sqrt of every
        # exp_avg_sq at once: one fp32 tensor per parameter, alive until the update is done.
        step_bytes=Fraction(4),
        # A plain PyTorch loop has no ZeRO-Offload: DeepSpeed's offload steps with its own
        # CPU Adam, which is then the optimizer, planned as adamw-fused.
        offloads=False,
    ),
    "adamw-8bit": OptimizerMemory(
        name="adamw-8bit",
        label="AdamW 8-bit (bitsandbytes)",
        runs_as="bitsandbytes.optim.AdamW8bit; HF Trainer's adamw_bnb_8bit",
        # Both moments in uint8 with one fp32 absmax per 256-value block (bitsandbytes'
        # blockwise quantization): 2 + 2 * 4/256 bytes. Tensors under 4096 values keep fp32
        # moments; in a transformer those are the norms, a few millionths of the parameters.
        state_bytes=Fraction(2) + Fraction(2 * 4, 256),
        step_bytes=Fraction(0),
        offloads=False,
    ),
}


def optimizer(name: Optimizer) -> OptimizerMemory:
    """The registry entry for `name`."""
    return OPTIMIZERS[name]
