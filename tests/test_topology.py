"""One topology per engine: the planner's TP/PP/EP is exactly what every node's argv says."""

from __future__ import annotations

import shlex
from typing import Any

import pytest

from infra.catalog.shapes import get_shape
from infra.engines import EngineKind
from infra.node_plan import plan_nodes
from infra.sizing.catalog import lookup
from infra.sizing.planner import Request, plan
from infra.sizing.settings import resolve
from infra.specs import Engine, Image, Model, NodeGroup, Precision, StackSpec

from .factories import deployment

DEPLOYMENT = deployment("topo")
R1 = "deepseek-ai/DeepSeek-R1"
LLAMA_70B = "deepseek-ai/DeepSeek-R1-Distill-Llama-70B"

# (engine, model, precision, shape, stack node counts): every engine, one node and several,
# one replica and several.
CASES: list[tuple[EngineKind, str, Precision, str, tuple[int, ...]]] = [
    ("vllm", R1, "fp8", "BM.GPU.H100.8", (2, 4)),
    # 1.34 TB of bf16 weights: a 3-stage pipeline on H100.8...
    ("vllm", R1, "bf16", "BM.GPU.H100.8", (3,)),
    # ...but SGLang's TP24 would not divide R1's 128 heads, so its replica takes 4 nodes (TP32).
    ("sglang", R1, "bf16", "BM.GPU.H100.8", (4,)),
    ("vllm", LLAMA_70B, "bf16", "BM.GPU.H100.8", (1, 2)),
    ("sglang", R1, "fp8", "BM.GPU.H100.8", (2, 4)),
    ("sglang", LLAMA_70B, "bf16", "BM.GPU.MI300X.8", (1, 2)),
    ("tgi", "deepseek-ai/DeepSeek-R1-Distill-Llama-8B", "bf16", "BM.GPU.L40S.4", (1,)),
    ("ollama", "deepseek-r1:70b", "int4", "BM.GPU.H100.8", (1,)),
]


def _stack(engine: EngineKind, model: str, precision: Precision, shape: str, n: int) -> StackSpec:
    return StackSpec(
        deployment=DEPLOYMENT,
        # AMD shapes boot only a custom ROCm image (no platform image carries ROCm).
        nodes=NodeGroup(shape=shape, count=n, image=Image(custom=get_shape(shape).vendor == "amd")),
        model=Model(id=model, precision=precision),
        engine=Engine(kind=engine),
    )


def _argv(files: dict[str, str]) -> list[str]:
    run = files["/usr/local/lib/gpuform/engine-run.sh"]
    (line,) = [ln for ln in run.splitlines() if ln.startswith("exec docker run")]
    return shlex.split(line)


def _flag(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


def _params() -> list[Any]:
    return [
        pytest.param(e, m, p, s, n, id=f"{e}-{m.rsplit('/', 1)[-1]}-{s}-{n}")
        for e, m, p, s, counts in CASES
        for n in counts
    ]


@pytest.mark.parametrize(("engine", "model", "precision", "shape", "nodes"), _params())
def test_planner_topology_is_the_rendered_argv(
    engine: EngineKind, model: str, precision: Precision, shape: str, nodes: int
) -> None:
    stack = _stack(engine, model, precision, shape, nodes)
    # The planner sizes one replica; the stack's count runs several side by side.
    planned = plan(Request(lookup(model), engine=engine, precision=precision, shape=shape)).chosen
    assert planned is not None and planned.topology is not None
    topo = resolve(stack).topology
    assert topo == planned.topology.with_replicas(nodes // planned.nodes)
    head = _argv(plan_nodes(stack, resolve(stack))[0].files)
    if engine == "vllm":
        assert _flag(head, "--tensor-parallel-size") == str(topo.tp)
        assert _flag(head, "--pipeline-parallel-size") == (str(topo.pp) if topo.pp > 1 else None)
        assert ("--enable-expert-parallel" in head) == (topo.ep > 1)
    elif engine == "sglang":
        assert _flag(head, "--tp-size") == str(topo.tp) == str(topo.gpus_per_replica)
        assert _flag(head, "--ep-size") == (str(topo.ep) if topo.ep > 1 else None)
        nnodes = _flag(head, "--nnodes")
        assert nnodes == (str(topo.nodes_per_replica) if topo.nodes_per_replica > 1 else None)
    elif engine == "tgi":
        assert _flag(head, "--num-shard") == str(topo.tp)
    else:
        assert topo.tp == 1 and topo.layer_split == topo.gpus_per_node  # whole layers per GPU
    # The plan's memory is for exactly the GPUs the argv asks for.
    assert planned.topology.gpus_per_replica == topo.tp * topo.pp * topo.layer_split


def test_sglang_on_two_nodes_holds_half_the_kv_of_a_vllm_pipeline() -> None:
    # R1 fp8 on 2 x H100.8: vLLM pipelines (each GPU caches 31 of 61 layers); SGLang runs
    # TP16 (each GPU caches all 61 layers of the MLA latent), so it holds about half the tokens.
    def kv(engine: EngineKind) -> int:
        r = plan(Request(lookup(R1), engine=engine, precision="fp8", shape="BM.GPU.H100.8"))
        assert r.chosen is not None and r.chosen.nodes == 2
        return r.chosen.kv_tokens

    vllm, sglang = kv("vllm"), kv("sglang")
    assert 0.35 < sglang / vllm < 0.6, (sglang, vllm)


def test_sglang_workers_get_their_rank_and_only_the_head_serves() -> None:
    stack = _stack("sglang", R1, "fp8", "BM.GPU.H100.8", 4)
    nodes = plan_nodes(stack, resolve(stack))
    assert [(n.role, n.replica, n.rank, n.head) for n in nodes] == [
        ("head", 0, 0, 0),
        ("worker", 0, 1, 0),
        ("head", 1, 0, 2),
        ("worker", 1, 1, 2),
    ]
    for n in nodes:
        assert _flag(_argv(n.files), "--node-rank") == str(n.rank)
        assert n.serves_http == (n.role == "head")
