"""GPU and host memory for full fine-tuning, LoRA and QLoRA, calibrated on real GPUs.

The recipe is what `bench/gpu_memory.py` measured (docs/gpu-memory.md): gradient checkpointing,
bf16 autocast, and for LoRA/QLoRA peft's `target_modules="all-linear"` with fused AdamW (on an
H100, bench/results/gpu_memory.json); full fine-tuning keeps fp32 master weights on the GPU and
steps with the plan's optimizer (fused, foreach or 8-bit AdamW, on an H200,
bench/results/gpu_memory_h200.json). The bytes a step allocates come from the architecture and
came within 0.9 GB of each phase measured; what the caching allocator reserves beyond them is
fitted to those runs, and every case is within 5% (full fine-tuning: 4.2%).
The tools were torch 2.11, transformers 5.17, peft 0.21 and bitsandbytes 0.50"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from .architecture import Architecture
from .optimizers import DEFAULT_OPTIMIZER, Optimizer, optimizer
from .params import ParamCount

TrainTask = Literal["full", "lora", "qlora"]

# Mixed precision: fp32 weights and fp32 gradients (or bf16 ones with a separate fp32 master
# copy under ZeRO: the same 8 bytes), then the optimizer's states (optimizers.py).
WEIGHT_BYTES_PER_PARAM = 4
"""fp32 master weights: of the whole model in full fine-tuning, of peft's fp32 adapters."""
GRAD_BYTES_PER_PARAM = 4
"""fp32 gradients: of the master weights in full fine-tuning, of peft's fp32 adapters in LoRA."""
LORA_RANK = 16
LORA_TRAINABLE_FRACTION = Fraction(1, 100)
"""Rule of thumb for callers with a parameter count but no architecture; the planner counts."""
NF4_BITS = Fraction(4) + Fraction(8, 64) + Fraction(32, 64 * 256)
"""QLoRA's NF4: 4 bits, an 8-bit scale per 64 weights, an fp32 scale per 256 of those."""

CUDA_CONTEXT_BYTES = 1_353_056_256
"""Device memory outside PyTorch's allocator: CUDA context, cuBLAS and the kernels loaded.
Measured as device-used minus reserved, the same in every training case (torch 2.11, CUDA 13)."""
ACTIVATION_SLACK = Fraction(1, 4)
"""What PyTorch's caching allocator reserves beyond its peak allocation, as a share of the
activations at the loss: 0.22-0.36 in the LoRA and QLoRA cases (1.7-2.4 GB at 4k tokens,
6.9-7.5 GB at 16k): logits and checkpoints come in sizes no freed block fits, so blocks split."""
FORWARD_LOGIT_BYTES = 10
"""Per logit at the forward's loss in full fine-tuning: the bf16 logits, the fp32 upcast and
the fp32 log-softmax; the backward's LOGIT_BYTES peak then comes without the bf16 cast."""
CAST_BYTES_PER_PARAM = 2
"""Full fine-tuning under bf16 autocast: torch caches a bf16 copy of every fp32 weight that
requires grad for the whole forward (autocast's weight cache), freed when the forward ends."""
# Full fine-tuning: what the caching allocator reserves beyond the peak allocation, fitted to
# the H200 run (bench/results/gpu_memory_h200.json, docs/gpu-memory.md). Two mechanisms:
# - The cast copies' blocks. fp32 gradients and fp32 Adam moments need 4 bytes a parameter and
#   never fit a 2-byte cast's block, so at the end of backward those blocks sit idle; 8-bit
#   moments (1 byte, two a parameter) fill them.
# - Logit blocks taken by Adam. The first step creates Adam's moments while the freed logit
#   blocks are the largest free blocks; the moments split them, and the second step reserves
#   its logits afresh. Measured: the second step added 14 logit-sized bytes per logit when the
#   moments were at least about the size of those blocks (1.5B, 8k tokens), 4 when smaller.
# The constants below were fitted over all 27 cases that ran (docs/gpu-memory.md says which
# were held out of which fit, and what those checks found); every case is within 4.2%.
FB_CAST_SLACK = Fraction(2, 5)
"""Share of the cast bytes reserved beyond the peak at the loss."""
FB_LOGIT_SLACK = Fraction(1, 4)
"""Share of the logit bytes the second step reserves afresh, at the loss."""
FB_SLACK_BYTES = 2_500_000_000
END_CAST_SLACK = Fraction(3, 10)
"""Share of the idle cast blocks at the end of backward, with 32-bit optimizer states."""
END_SLACK_BYTES = 3_500_000_000
DISPLACED_LOGIT_BYTES = (14, 4)
"""Logit bytes reserved afresh per logit in the second step: when Adam's moments took every
logit block (moments >= DISPLACING_SHARE of the 12 bytes a logit), and when they took one."""
DISPLACING_SHARE = Fraction(7, 10)
FOREACH_REUSE_FLOOR = 13_000_000_000
"""foreach's step temporaries reuse freed logit blocks only beyond this much logit memory (12
bytes a logit): 7.1 GB more than fused at 4k tokens on the 1.5B, 5.7 at 8k, nothing at 12k
and 16k."""
LOGIT_BYTES = 12
"""Bytes per logit (token x vocabulary entry) alive at the loss: the bf16 logits of the head,
transformers' fp32 upcast for the loss, and cross-entropy's fp32 log-softmax kept for backward.
Measured 12.0-12.3 in every case; at a 150k vocabulary this is the largest activation."""
LAYER_RECOMPUTE_BYTES = 34
"""Per token and hidden unit: one layer's recomputed activations in 16 bit with fused attention
(Korthikanti et al. 2022, without the s^2 term), alive at the end of backward."""
GPU_USABLE = 0.95
"""The planner's error budget: an estimate may be up to 5% under the device's real use."""
HOST_USABLE = 0.85
"""The OS, page cache and pinned staging buffers keep the rest of host memory."""


@dataclass(frozen=True)
class TrainMemory:
    """Bytes a fine-tuning task needs, before sharding over GPUs."""

    task: TrainTask
    weights: int
    """The base model's weights at their training precision (bf16, or NF4 for QLoRA)."""
    states: int
    """Everything ZeRO-3 shards over GPUs: weights, gradients, optimizer states."""
    grads: int
    """Of `states`, the gradients: allocated during backward, freed after the optimizer step."""
    offloadable: int
    """Of `states`, what ZeRO-Offload can hold in host memory instead."""
    trainable: int
    """Parameters the optimizer updates."""
    step: int
    """Temporaries of the optimizer's step, on top of `states` while it runs."""
    optimizer_states: int = 0
    """Of `states`, the optimizer's own (Adam's moments)."""
    optimizer: Optimizer = DEFAULT_OPTIMIZER


def _attention_linears(a: Architecture) -> list[tuple[int, int]]:
    """(in, out) of each nn.Linear in one attention block."""
    h = a.hidden_size
    if a.mla is not None:
        m = a.mla
        qk = a.attention_heads * (m.qk_nope_head_dim + m.qk_rope_head_dim)
        q = [(h, qk)] if m.q_lora_rank is None else [(h, m.q_lora_rank), (m.q_lora_rank, qk)]
        kv_b = a.attention_heads * (m.qk_nope_head_dim + m.v_head_dim)
        return [
            *q,
            (h, m.kv_lora_rank + m.qk_rope_head_dim),
            (m.kv_lora_rank, kv_b),
            (a.attention_heads * m.v_head_dim, h),
        ]
    heads, kv = a.attention_heads * a.head_dim, a.kv_heads * a.head_dim
    return [(h, heads), (h, kv), (h, kv), (heads, h)]


def lora_params(a: Architecture, rank: int = LORA_RANK) -> int:
    """Adapter parameters of peft's `target_modules="all-linear"` at `rank`, as peft places them.

    Each targeted (in, out) layer gets rank * (in + out). Dense models: every linear layer but
    the output head. MoE models under transformers 5 store the routed experts as fused 3D
    parameters, and peft 0.21 maps "all-linear" to the attention projections plus
    `target_parameters` on the router and the experts, gate_up_proj at twice the rank (it
    fuses two layers). Its rename of gate_proj/up_proj/down_proj to the fused experts also
    drops the dense layers' and shared experts' MLPs, which then get no adapter; measured:
    358,994,944 on DeepSeek-V2-Lite, exactly this count.
    """
    h = a.hidden_size
    attention = sum(rank * (i + o) for i, o in _attention_linears(a))
    total = 0
    for layer in range(a.layers):
        total += attention
        if a.moe is None:
            total += 3 * rank * (h + a.intermediate_size)
        elif a.is_moe_layer(layer):
            m = a.moe
            i = m.expert_intermediate_size
            router = rank * (h + m.routed_experts)
            experts = m.routed_experts * (2 * rank * (h + 2 * i) + rank * (i + h))
            total += router + experts
    return total


def train_memory(
    p: ParamCount,
    task: TrainTask,
    a: Architecture | None = None,
    opt: Optimizer = DEFAULT_OPTIMIZER,
) -> TrainMemory:
    """Weights, gradients and optimizer states for `task` trained with `opt`; `a` counts LoRA's
    adapters exactly."""
    o = optimizer(opt)
    # Master weights and gradients in fp32, then the optimizer's states: for AdamW 16 bytes.
    per_trained = WEIGHT_BYTES_PER_PARAM + GRAD_BYTES_PER_PARAM + o.state_bytes
    offloadable = WEIGHT_BYTES_PER_PARAM + o.state_bytes if o.offloads else Fraction(0)
    if task == "full":
        trainable = p.total
        weights = 2 * p.total
        base = 0
    else:
        trainable = (
            lora_params(a) if a is not None else math.ceil(p.total * LORA_TRAINABLE_FRACTION)
        )
        if task == "lora":
            base = 2 * p.total
        else:
            # bitsandbytes quantizes nn.Linear modules only. Embeddings, norms, the router and,
            # in transformers 5, the routed experts (fused nn.Parameters, not nn.Linear) stay
            # bf16: a DeepSeek MoE's "QLoRA" base is nearly its bf16 size (measured on V2-Lite:
            # 30.1 GB against 31.5 GB). A tool that quantizes fused experts would need NF4_BITS.
            kept = p.embeddings + p.small + p.routed_experts
            base = math.ceil((p.total - kept) * NF4_BITS / 8) + 2 * kept
        weights = base
    # peft keeps adapters in fp32, so LoRA's trained parameters cost what full fine-tuning's do.
    return TrainMemory(
        task=task,
        weights=weights,
        states=base + math.ceil(per_trained * trainable),
        grads=GRAD_BYTES_PER_PARAM * trainable,
        offloadable=math.ceil(offloadable * trainable),
        trainable=trainable,
        step=math.ceil(o.step_bytes * trainable),
        optimizer=opt,
        optimizer_states=math.ceil(o.state_bytes * trainable),
    )


def activation_bytes(a: Architecture, task: TrainTask, seq_len: int, batch: int) -> int:
    """Activations at the loss, the peak of a checkpointed step, for one micro-batch per GPU.

    Checkpointing keeps each layer's input: bf16, or fp32 when the weights are fp32 (full
    fine-tuning under autocast keeps the residual stream in the weights' dtype). Then the
    logits (LOGIT_BYTES each) and, when the head trains, its fp32 gradient and bf16 cast.
    """
    tokens = seq_len * batch
    residual = 4 if task == "full" else 2
    checkpoints = a.layers * tokens * a.hidden_size * residual
    logits = LOGIT_BYTES * tokens * a.vocab_size
    head = (4 + 2) * a.vocab_size * a.hidden_size if task == "full" else 0
    return checkpoints + logits + head


def gpu_bytes(
    a: Architecture, tm: TrainMemory, seq_len: int, batch: int, gpus: int, offload: bool = False
) -> int:
    """Peak device memory per GPU as the driver counts it (mem_get_info total minus free).

    A step peaks at the loss (logits alive, no gradients yet), at the end of backward (every
    gradient, one layer's recompute) or in the optimizer's step (every gradient, the step's
    temporaries); the caching allocator's slack and the CUDA context come on top. ZeRO-3 shards
    states and the step over `gpus`; activations are per GPU.
    """
    if offload:
        # ZeRO-Offload moves fp32 master weights and Adam's moments to the host, where
        # DeepSpeed's CPU Adam steps; the GPU keeps the weights and bf16 gradients of the
        # trained parameters (2 bytes each).
        resident = math.ceil((tm.states - tm.offloadable) / gpus)
        grads = math.ceil(2 * tm.trainable / gpus)
        step = 0
        moments = 0
    else:
        resident = math.ceil(tm.states / gpus)
        grads = math.ceil(tm.grads / gpus)
        step = math.ceil(tm.step / gpus)
        moments = math.ceil(tm.optimizer_states / gpus)
    activations = activation_bytes(a, tm.task, seq_len, batch)
    at_loss = resident - grads + activations
    at_end = resident + LAYER_RECOMPUTE_BYTES * seq_len * batch * a.hidden_size
    if tm.task == "full":
        return CUDA_CONTEXT_BYTES + _full_reserved(
            a, tm, seq_len * batch, gpus, at_loss, at_end, resident - grads, moments, step
        )
    slack = math.ceil(activations * ACTIVATION_SLACK)
    return CUDA_CONTEXT_BYTES + max(at_loss, at_end, resident + step) + slack


def _full_reserved(
    a: Architecture,
    tm: TrainMemory,
    tokens: int,
    gpus: int,
    at_loss: int,
    at_end: int,
    kept: int,
    moments: int,
    step: int,
) -> int:
    """What the caching allocator holds at the peak of a full fine-tuning step, per GPU.

    `kept` is what lives through the forward (weights and optimizer states), `moments` the
    optimizer's states and `step` its temporaries, all per GPU.
    """
    logits = tokens * a.vocab_size
    cast = math.ceil(CAST_BYTES_PER_PARAM * tm.trainable / gpus)
    checkpoints = a.layers * tokens * a.hidden_size * 4
    forward = kept + cast + checkpoints + FORWARD_LOGIT_BYTES * logits
    fresh, one = DISPLACED_LOGIT_BYTES
    displaced = (fresh if moments >= DISPLACING_SHARE * LOGIT_BYTES * logits else one) * logits
    at_loss_slack = math.ceil(FB_CAST_SLACK * cast + FB_LOGIT_SLACK * displaced) + FB_SLACK_BYTES
    idle_casts = cast if optimizer(tm.optimizer).state_bytes >= 4 else 0
    end_slack = math.ceil(END_CAST_SLACK * idle_casts) + END_SLACK_BYTES
    reserved = max(forward + at_loss_slack, at_loss + at_loss_slack, at_end + end_slack)
    if step:
        # foreach's temporaries fit the freed logit blocks once those are large enough.
        reuse = min(step, max(0, LOGIT_BYTES * logits - FOREACH_REUSE_FLOOR))
        reserved = max(reserved + step - reuse, at_end + step + end_slack)
    return reserved
