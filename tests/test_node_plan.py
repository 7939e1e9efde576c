"""The node plan: one entry per node, decided once, and what `gpuform nodes` prints of it."""

from __future__ import annotations

import json

from infra.engines import EngineKind
from infra.node_plan import plan_nodes
from infra.sizing.settings import resolve
from infra.specs import Engine, Model, NodeGroup, StackSpec

from .conftest import run_cli
from .factories import deployment

DEPLOYMENT = deployment("plan")


def _stack(count: int, engine: EngineKind = "vllm") -> StackSpec:
    return StackSpec(
        deployment=DEPLOYMENT,
        nodes=NodeGroup(shape="BM.GPU.H100.8", count=count),
        model=Model(id="deepseek-ai/DeepSeek-R1", precision="fp8"),
        engine=Engine(kind=engine),
    )


def test_two_replicas_of_two_nodes() -> None:
    stack = _stack(4)
    nodes = plan_nodes(stack, resolve(stack))
    assert [(n.index, n.role, n.replica, n.head, n.ray_role) for n in nodes] == [
        (0, "head", 0, 0, "head"),
        (1, "worker", 0, 0, "worker"),
        (2, "head", 1, 2, "head"),
        (3, "worker", 1, 2, "worker"),
    ]
    assert [n.hostname for n in nodes] == ["node0", "node1", "node2", "node3"]
    assert nodes[0].display_name == "plan-node-0"


def test_steps_follow_the_role() -> None:
    stack = _stack(2)
    head, worker = plan_nodes(stack, resolve(stack))
    # Only a head serves the API, so only it fetches the key and waits for readiness.
    assert "gpuform-ready.service" in head.steps and "gpuform-api-key.service" in head.steps
    assert "gpuform-ready.service" not in worker.steps
    assert "gpuform-api-key.service" not in worker.steps
    # Stage 0 first: it fetches the bundle that holds every other step.
    assert head.steps[:2] == ("gpuform-bundle.service", "gpuform-node-env.service")
    assert "gpuform_head_ip" in worker.metadata_keys


def test_nodes_command_prints_the_plan_as_json() -> None:
    result = run_cli(["nodes", "deepseek-r1-h200", "--json"])
    assert result.code == 0, result.stderr
    (node,) = json.loads(result.stdout)
    assert node["role"] == "head" and node["name"] == "deepseek-r1-h200-node-0"
    assert node["steps"][-1] == "gpuform-ready.service"
    assert node["target"] == "gpuform.target"
    assert len(node["bundle"]["sha256"]) == 64 and node["bundle"]["size"] > 1000
    assert node["bundle"]["object"] == f"bundle-{node['bundle']['sha256']}.tgz.b64"


def test_nodes_command_table_and_unknown_stack() -> None:
    table = run_cli(["nodes", "deepseek-r1-h200"])
    assert table.code == 0 and "deepseek-r1-h200-node-0" in table.stdout
    missing = run_cli(["nodes", "no-such-stack"])
    assert missing.code == 2 and missing.stderr.count("\n") == 1
    assert "stack 'no-such-stack' not found" in missing.stderr


def test_stacks_json_has_the_table_rows() -> None:
    result = run_cli(["stacks", "--json"])
    assert result.code == 0, result.stderr
    rows = {r["stack"]: r for r in json.loads(result.stdout)}
    r1 = rows["deepseek-r1-h200"]
    assert (r1["shape"], r1["nodes"], r1["gpus"], r1["tp"], r1["ep"]) == (
        "BM.GPU.H200.8",
        1,
        8,
        8,
        8,
    )
    table = run_cli(["stacks"])
    for name, row in rows.items():
        line = next(ln for ln in table.stdout.splitlines() if ln.strip().startswith(name + " "))
        assert f"{row['shape']} x {row['nodes']}" in line and f"{row['usd_per_hour']:,.2f}" in line
