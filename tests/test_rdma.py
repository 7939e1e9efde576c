"""Multi-node replicas on RDMA: compute cluster, agent plugins, NCCL per shape, container flags."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from infra.catalog.nccl import collective_settings
from infra.catalog.shapes import shapes
from infra.node_plan import plan_nodes
from infra.sizing.settings import resolve
from infra.specs import Deployment, Engine, Model, NodeGroup, StackSpec, one_line

LIB = "/usr/local/lib/gpuform"
DEPLOYMENT = Deployment(
    name="rdma",
    region="us-ashburn-1",
    ssh_allowed_cidrs=["198.51.100.0/24"],
    api_allowed_cidrs=["198.51.100.0/24"],
)


def _stack(shape: str, count: int, **nodes: Any) -> StackSpec:
    return StackSpec(
        deployment=DEPLOYMENT,
        nodes=NodeGroup(shape=shape, count=count, **nodes),
        model=Model(id="deepseek-ai/DeepSeek-R1", precision="fp8"),
        engine=Engine(kind="vllm"),
    )


def _env(shape: str) -> dict[str, str]:
    settings = collective_settings(shape)
    assert settings is not None, shape
    return dict(settings.env)


def test_every_rdma_shape_has_collective_settings_and_no_other_does() -> None:
    for name, shape in shapes().items():
        assert (collective_settings(name) is not None) == shape.rdma, name


def test_nccl_settings_per_shape_follow_oci_hpc() -> None:
    h100 = _env("BM.GPU.H100.8")
    assert len(h100["NCCL_IB_HCA"].removeprefix("=").split(",")) == 16
    assert (h100["NCCL_IB_GID_INDEX"], h100["NCCL_IB_TC"], h100["NCCL_IB_SL"]) == ("3", "41", "0")
    assert (h100["NCCL_IB_TIMEOUT"], h100["NCCL_IB_QPS_PER_CONNECTION"]) == ("22", "1")
    # The leading '=' asks NCCL for exactly these devices, not name prefixes (mlx5_1 vs mlx5_10).
    assert h100["NCCL_IB_HCA"].startswith("=")
    assert len(_env("BM.GPU.H200.8")["NCCL_IB_HCA"].removeprefix("=").split(",")) == 8
    for a100 in ("BM.GPU.A100-v2.8", "BM.GPU4.8"):
        assert _env(a100)["NCCL_IB_QPS_PER_CONNECTION"] == "4"
    mi300x = collective_settings("BM.GPU.MI300X.8")
    assert mi300x is not None and mi300x.library == "rccl"
    assert dict(mi300x.env)["NCCL_IB_GID_INDEX"] == "3"


def test_a_multi_node_replica_gets_rdma_devices_nccl_and_memlock() -> None:
    stack = _stack("BM.GPU.H100.8", 2)
    head, worker = plan_nodes(stack, resolve(stack))
    assert head.placement == worker.placement == "compute_cluster"
    for node in (head, worker):
        files = node.files
        conf = files[f"{LIB}/rdma.sh"]
        assert "NCCL_IB_GID_INDEX=3\n" in conf and "NCCL_IB_TC=41\n" in conf
        assert "/sys/class/infiniband" in conf
        run = files[f"{LIB}/ray-run.sh"]
        for flag in (
            "--device /dev/infiniband",
            "--cap-add IPC_LOCK",
            "--ulimit memlock=-1:-1",
            "--env-file /etc/nccl.conf",
            "--network host",
        ):
            assert flag in run, (node.index, flag)
        assert "gpuform-rdma.service" in node.steps
    assert "--device /dev/infiniband" in head.files[f"{LIB}/engine-run.sh"]


def test_a_single_node_stack_gets_no_rdma_step() -> None:
    stack = _stack("BM.GPU.H200.8", 1)
    (node,) = plan_nodes(stack, resolve(stack))
    assert node.placement is None
    assert "gpuform-rdma.service" not in node.steps
    assert "/dev/infiniband" not in node.files[f"{LIB}/engine-run.sh"]


def test_asking_for_a_compute_cluster_on_one_node_gets_one() -> None:
    stack = _stack("BM.GPU.H200.8", 1, placement="compute_cluster")
    (node,) = plan_nodes(stack, resolve(stack))
    assert node.placement == "compute_cluster" and "gpuform-rdma.service" in node.steps


def test_rdma_placement_on_a_shape_without_rdma_is_one_line() -> None:
    with pytest.raises(ValidationError) as err:
        NodeGroup(shape="BM.GPU.L40S.4", placement="compute_cluster")
    line = one_line(err.value)
    assert line.startswith("NodeGroup.placement = 'compute_cluster': BM.GPU.L40S.4 has no RDMA")
    assert "BM.GPU.H100.8" in line and "\n" not in line


def test_synthesized_multi_node_stack_joins_one_compute_cluster(
    synthesized: dict[str, dict[str, Any]],
) -> None:
    doc = synthesized["deepseek-r1-2x-h100"]
    (cluster_key,) = doc["resource"]["oci_core_compute_cluster"]
    ref = f"${{oci_core_compute_cluster.{cluster_key}.id}}"
    nodes = [
        r
        for r in doc["resource"]["oci_core_instance"].values()
        if r["freeform_tags"].get("gpuform-role") in ("head", "worker")
    ]
    assert len(nodes) == 2
    for node in nodes:
        assert node["compute_cluster_id"] == ref
        plugins = {p["name"]: p["desired_state"] for p in node["agent_config"]["plugins_config"]}
        for name in (
            "Compute HPC RDMA Authentication",
            "Compute HPC RDMA Auto-Configuration",
            "Compute RDMA GPU Monitoring",
        ):
            assert plugins[name] == "ENABLED", name
    heads = doc["output"]["ray_head_addresses"]["value"]
    assert heads == ["${oci_core_instance.cluster_nodes_node_0.private_ip}:6379"]


def test_single_node_examples_have_no_compute_cluster(
    synthesized: dict[str, dict[str, Any]],
) -> None:
    for name, doc in synthesized.items():
        if len(doc["output"]["nodes"]["value"]) > 1:
            continue
        assert "oci_core_compute_cluster" not in doc["resource"], name
        for node in doc["resource"]["oci_core_instance"].values():
            assert "compute_cluster_id" not in node, name
