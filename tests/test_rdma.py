"""Multi-node replicas on RDMA: compute cluster, agent plugins, NCCL per shape, container flags."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from infra.catalog.nccl import collective_settings
from infra.catalog.shapes import shapes
from infra.node_plan import plan_nodes
from infra.render.jinja import environment
from infra.render.steps import step
from infra.sizing.settings import resolve
from infra.specs import Engine, Model, NodeGroup, StackSpec, one_line

from . import nodecov
from .factories import deployment

LIB = "/usr/local/lib/gpuform"
DEPLOYMENT = deployment("rdma")


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


# --- rdma.sh, run for real against a stand-in /sys/class/infiniband ------------------------------

H100_HCAS = [f"mlx5_{i}" for i in (0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14, 15, 16, 17)]
FRONT_END = ["mlx5_2", "mlx5_11"]  # H100.8's front-end NICs: RDMA devices NCCL is not given


def _rdma(tmp_path: Path, devices: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The H100.8 rdma.sh with its sysfs and nccl.conf under tmp_path; `devices` maps each
    device present to its GID 3 (all zeros: not addressed yet)."""
    stack = _stack("BM.GPU.H100.8", 2)
    ctx = plan_nodes(stack, resolve(stack))[0].context
    assert ctx.rdma is not None
    sysfs = tmp_path / "infiniband"
    for name, gid in devices.items():
        gids = sysfs / name / "ports" / "1" / "gids"
        gids.mkdir(parents=True)
        (gids / "3").write_text(gid + "\n")
    sysfs.mkdir(exist_ok=True)
    rdma = dataclasses.replace(
        ctx.rdma, sysfs=str(sysfs), conf_path=str(tmp_path / "nccl.conf"), devices_timeout_s=0
    )
    ctx = dataclasses.replace(ctx, rdma=rdma)
    script = tmp_path / "rdma.sh"
    script.write_text(
        environment().get_template("scripts/rdma.sh.j2").render(ctx.parts(step("rdma").reads))
    )
    return subprocess.run(
        ["/bin/bash", str(script)], capture_output=True, text=True, timeout=60,
        env=nodecov.script_env({"PATH": os.environ["PATH"]}),
    )  # fmt: skip


ADDRESSED = "fe80:0000:0000:0000:0000:ffff:c0a8:0001"
ZERO = "0000:0000:0000:0000:0000:0000:0000:0000"


def test_the_devices_nccl_names_are_what_counts() -> None:
    stack = _stack("BM.GPU.H100.8", 2)
    rdma = plan_nodes(stack, resolve(stack))[0].context.rdma
    assert rdma is not None and list(rdma.hcas) == H100_HCAS and rdma.devices == 16


def test_ready_when_every_named_device_is_addressed_front_end_nics_or_not(tmp_path: Path) -> None:
    r = _rdma(tmp_path, {**dict.fromkeys(H100_HCAS, ADDRESSED), **dict.fromkeys(FRONT_END, ZERO)})
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"gpuform: 16 RDMA devices up; {tmp_path / 'nccl.conf'} written\n"
    assert "NCCL_IB_GID_INDEX=3\n" in (tmp_path / "nccl.conf").read_text()


def test_front_end_nics_do_not_stand_in_for_missing_nccl_devices(tmp_path: Path) -> None:
    """18 devices, 16 addressed, but two of those are front-end NICs: NCCL would miss two."""
    present = {**dict.fromkeys(H100_HCAS[:-2], ADDRESSED), **dict.fromkeys(FRONT_END, ADDRESSED)}
    r = _rdma(tmp_path, present)
    assert r.returncode == 1
    (line,) = r.stderr.splitlines()
    assert line.startswith(f"gpuform: only 14 of 16 RDMA devices in {tmp_path / 'infiniband'};")


def test_a_named_device_without_its_roce_address_keeps_the_node_waiting(tmp_path: Path) -> None:
    present = {**dict.fromkeys(H100_HCAS, ADDRESSED), **dict.fromkeys(FRONT_END, ADDRESSED)}
    present["mlx5_17"] = ZERO
    r = _rdma(tmp_path, present)
    assert r.returncode == 1
    (line,) = r.stderr.splitlines()
    assert "the 16 RDMA devices have no RoCEv2 address (GID 3) after 0s" in line, line
