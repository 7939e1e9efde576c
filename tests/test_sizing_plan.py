"""The planner on the example stacks, on impossible stacks, and its properties."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.catalog.shapes import get_shape, shapes
from infra.engines import Topology
from infra.errors import UserError
from infra.sizing.catalog import catalog, lookup
from infra.sizing.finetune import train_memory
from infra.sizing.parallelism import valid_tps
from infra.sizing.params import count
from infra.sizing.planner import Request, plan, why_not
from infra.sizing.precision import Precision
from infra.sizing.settings import StackSizes, resolve
from infra.specs import Engine, Image, Model, NodeGroup, StackSpec
from infra.stacks import load_examples
from infra.synth import synth

from .factories import deployment


def _image(shape: str) -> Image:
    return Image(custom=True) if get_shape(shape).vendor == "amd" else Image()


def _stack(model: str, kind: str, shape: str, **kw: Any) -> StackSpec:
    engine = {k: v for k, v in kw.items() if k in Engine.model_fields}
    model_kw = {k: v for k, v in kw.items() if k in ("precision",)}
    nodes_kw = {k: v for k, v in kw.items() if k in ("count",)}
    return StackSpec(
        deployment=deployment("plan-test"),
        # AMD shapes boot only a custom ROCm image (no platform image carries ROCm).
        nodes=NodeGroup(shape=shape, image=_image(shape), **nodes_kw),
        model=Model(id=model, **model_kw),
        engine=Engine(kind=kind, **engine),
    )


def _one_node(gpus: int, ep: int = 1) -> Topology:
    return Topology(tp=gpus, pp=1, nodes_per_replica=1, gpus_per_node=gpus, ep=ep)


# What each example stack must resolve to.
EXPECTED: dict[str, StackSizes] = {
    "r1-distill-llama-8b": StackSizes(_one_node(1), 4096, 0.9),
    # SGLang's memory share is v0.5.4's own rule for the GPU and TP (0.862 on MI300X, TP8).
    "r1-distill-llama-70b-sglang": StackSizes(_one_node(8), 131072, 0.862),
    "r1-distill-llama-70b-vllm": StackSizes(_one_node(8), 126432, 0.9),
    # MoE: 256 routed experts place whole on the 8 TP ranks.
    # SGLang sizes from CUDA's total (150,109,880,320 bytes on an H200), as the planner does.
    "deepseek-r1-h200": StackSizes(_one_node(8, ep=8), 163840, 0.896),
    # Ollama: 43 GB of Q4_K_M fits one H100, so one GPU and no TP.
    "deepseek-r1-70b-ollama": StackSizes(_one_node(1), None, None),
    "deepseek-v2-lite": StackSizes(_one_node(4, ep=4), 163840, 0.9),
    # 673 GB of FP8 over 2 x 640 GB: TP 8 in each node, two pipeline stages.
    "deepseek-r1-2x-h100": StackSizes(
        Topology(tp=8, pp=2, nodes_per_replica=2, gpus_per_node=8, ep=8), 32768, 0.9
    ),
    # Training clusters: every node in one cluster, data parallel over what TP x PP leaves.
    "deepseek-r1-rl": StackSizes(
        Topology(tp=1, pp=1, nodes_per_replica=16, gpus_per_node=8, dp=128), None, None
    ),
    "deepseek-v2-lite-megatron": StackSizes(
        Topology(tp=1, pp=1, ep=8, nodes_per_replica=1, gpus_per_node=8, dp=8), None, None
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_stack_gets_its_plan(name: str) -> None:
    stacks = load_examples()
    assert name in stacks, f"example {name} is missing"
    assert resolve(stacks[name]) == EXPECTED[name]


def test_every_example_stack_is_checked() -> None:
    assert set(load_examples()) == set(EXPECTED)


def test_example_a_fits_the_a10_with_room_to_spare() -> None:
    r = plan(Request(lookup("deepseek-ai/DeepSeek-R1-Distill-Llama-8B"), shape="VM.GPU.A10.1"))
    assert r.chosen is not None
    assert r.chosen.weights_gb == 16.1
    assert 16_000 < r.chosen.max_context < 32_000  # 8B bf16 leaves ~3 GB of KV on 24 GB


def test_unset_sizes_default_to_the_plan() -> None:
    s = resolve(_stack("deepseek-ai/DeepSeek-R1", "vllm", "BM.GPU.H100.8", precision="fp8"))
    # Count left unset: the planner spreads R1 over two H100 nodes, pipelined.
    assert (s.nodes, s.topology.pp, s.topology.tp) == (2, 2, 8)
    assert s.max_model_len == 163840


REFUSED = [
    # (stack kwargs, field in the one-line error, text in it)
    (
        ("deepseek-ai/DeepSeek-R1", "sglang", "BM.GPU.H100.8", {"precision": "fp8", "count": 1}),
        "nodes.count",
        # 8 x 85.0 GB as the driver reports them: 84.1 GB of weights a GPU leaves no room.
        "673.0 GB of weights over 8 GPUs is 84.1 GB each, past the 69.5 GB the engine may use "
        "of 85.0 GB: use 2 nodes",
    ),
    (
        (
            "deepseek-ai/DeepSeek-R1-Distill-Llama-8B",
            "vllm",
            "VM.GPU.A10.1",
            {"max_model_len": 65536},
        ),
        "engine.max_model_len",
        "KV cache",
    ),
    (
        ("Qwen/Qwen2.5-7B-Instruct", "vllm", "BM.GPU.H100.8", {"tensor_parallel_size": 8}),
        "engine.tensor_parallel_size",
        "28 attention heads",
    ),
    (
        ("deepseek-r1:70b", "ollama", "BM.GPU.H100.8", {"precision": "fp8"}),
        "model.precision",
        "Q4_K_M",
    ),
    (("acme/NotAModel-7B", "vllm", "BM.GPU.H100.8", {}), "model.id", "sizing catalog"),
    (
        ("deepseek-ai/DeepSeek-R1-Distill-Llama-70B", "vllm", "VM.GPU.A10.2", {}),
        "nodes.shape",
        "weights alone",
    ),
]


@pytest.mark.parametrize(("args", "field", "text"), REFUSED)
def test_impossible_stack_is_refused_in_one_line(
    args: tuple[str, str, str, dict[str, Any]], field: str, text: str
) -> None:
    model, kind, shape, kw = args
    with pytest.raises(UserError) as err:
        resolve(_stack(model, kind, shape, **kw))
    assert err.value.field == field
    assert text in str(err.value)
    assert "\n" not in str(err.value)


def test_refusal_names_the_other_shapes_that_fit() -> None:
    r = plan(Request(lookup("deepseek-ai/DeepSeek-R1"), shape="BM.GPU.H100.8", nodes=1))
    assert r.chosen is None
    msg = why_not(r)
    assert msg.startswith("DeepSeek-R1 fp8 on 1 x BM.GPU.H100.8 (TP 8, EP 8): 673.0 GB of weights")
    assert "use 2 nodes or BM.GPU.MI300X.8" in msg


def test_multi_node_plans_say_so_and_stay_on_rdma_shapes() -> None:
    # 1.34 TB of bf16 weights: one MI300X.8 (1.5 TB) holds them, one H200.8 (1.1 TB) does not.
    r = plan(Request(lookup("deepseek-ai/DeepSeek-R1"), precision="bf16"))
    assert r.chosen is not None and r.chosen.shape == "BM.GPU.MI300X.8"
    h200 = next(o for o in r.options if o.shape == "BM.GPU.H200.8")
    assert h200.fits and h200.multi_node and (h200.nodes, h200.pp) == (2, 2)
    for o in r.options:
        if o.nodes > 1:
            assert get_shape(o.shape).rdma


def test_full_fine_tuning_r1_offloads_adam_and_checks_host_memory() -> None:
    p = count(catalog()["deepseek-ai/DeepSeek-R1"].arch)
    assert train_memory(p, "full").states == 16 * p.total
    r = plan(Request(lookup("deepseek-ai/DeepSeek-R1"), task="full", shape="BM.GPU.H200.8"))
    assert r.chosen is not None
    c = r.chosen
    assert c.offload
    # 12 bytes a parameter of Adam over the nodes, inside 85% of the node's 3 TB.
    assert c.host_memory_gb_per_node == round(12 * p.total / c.nodes / 1e9, 1)
    assert c.host_memory_gb_per_node <= 0.85 * 3072


def test_lora_and_qlora_need_less_than_full() -> None:
    p = count(catalog()["deepseek-ai/DeepSeek-R1-Distill-Llama-70B"].arch)
    full, lora, qlora = (train_memory(p, t).states for t in ("full", "lora", "qlora"))
    assert qlora < lora < full
    assert lora == 2 * p.total + 16 * -(-p.total // 100)


# --- properties -------------------------------------------------------------------------

SERVE_MODELS = sorted(catalog())
MULTI = [n for n, s in shapes().items() if s.rdma]


@settings(max_examples=60, deadline=None)
@given(
    model=st.sampled_from(SERVE_MODELS),
    shape=st.sampled_from(sorted(shapes())),
    engine=st.sampled_from(["vllm", "sglang", "tgi"]),
    precision=st.sampled_from(["bf16", "fp8", "int8", "int4"]),
)
def test_more_gpus_of_a_kind_never_lower_max_context(
    model: str, shape: str, engine: Any, precision: Precision
) -> None:
    ref = lookup(model)
    gpus = get_shape(shape).gpus
    contexts = []
    for tp in valid_tps(ref.model.arch, engine, gpus):
        r = plan(Request(ref, engine=engine, precision=precision, shape=shape, nodes=1, tp=tp))
        contexts.append(r.options[0].max_context)
    assert contexts == sorted(contexts)
    if shape in MULTI and engine != "tgi":
        by_nodes = [
            plan(Request(ref, engine=engine, precision=precision, shape=shape, nodes=n))
            .options[0]
            .max_context
            for n in (1, 2, 3)
        ]
        assert by_nodes == sorted(by_nodes)


def _gpus_needed(model: str, engine: Any, precision: Precision, shape: str) -> int | None:
    r = plan(Request(lookup(model), engine=engine, precision=precision, shape=shape))
    c = r.chosen
    return None if c is None or c.topology is None else c.topology.gpus_per_replica


@settings(max_examples=60, deadline=None)
@given(
    model=st.sampled_from(SERVE_MODELS),
    shape=st.sampled_from(sorted(shapes())),
    engine=st.sampled_from(["vllm", "sglang", "ollama"]),
)
def test_lower_precision_never_needs_more_gpus(model: str, shape: str, engine: Any) -> None:
    order: list[Precision] = ["bf16", "int8", "int4"]  # Ollama has no fp8 GGUF
    needed = [_gpus_needed(model, engine, p, shape) for p in order]
    for higher, lower in itertools.pairwise(needed):
        if higher is not None:
            assert lower is not None and lower <= higher


@settings(max_examples=25, deadline=None)
@given(
    model=st.sampled_from(SERVE_MODELS),
    shape=st.sampled_from(sorted(shapes())),
    engine=st.sampled_from(["vllm", "sglang"]),
    context=st.integers(min_value=256, max_value=131072),
)
def test_a_refused_plan_never_synthesizes(
    tmp_path_factory: pytest.TempPathFactory, model: str, shape: str, engine: Any, context: int
) -> None:
    stack = _stack(model, engine, shape, max_model_len=context, count=1)
    too_long = context > lookup(model).model.arch.max_position_embeddings
    req = Request(
        lookup(model), engine=engine, precision="bf16", shape=shape, nodes=1, context=context
    )
    if too_long or plan(req).chosen is None:
        out: Path = tmp_path_factory.mktemp("synth") / "out"
        with pytest.raises(UserError, match=f"stack '{stack.name}': "):
            synth({stack.name: stack}, out)
        assert not out.exists()
    else:
        assert resolve(stack).max_model_len == context
