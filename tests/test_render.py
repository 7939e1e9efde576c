"""Rendered cloud-configs pass cloud-init, shellcheck and systemd, and say the right things."""

from __future__ import annotations

import functools
import os
import shlex
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from jinja2 import UndefinedError

from infra.engines import Topology
from infra.node_plan import NodePlan, plan_nodes
from infra.render.context import build_context
from infra.render.jinja import environment
from infra.render.stage0 import MAX_STAGE0_B64
from infra.sizing.settings import StackSizes, resolve
from infra.specs import AnyStack, Endpoint, Engine, Image, Model, NodeGroup, StackSpec
from infra.specs.storage import SharedStorage
from infra.stacks import load_examples

from .factories import deployment
from .test_render_validators import (
    assert_clean,
    assert_silent,
    cloud_init_schema,
    shellcheck_files,
    verify_units,
)

LIB = "/usr/local/lib/gpuform"
UNITS = "/etc/systemd/system"
DEPLOYMENT = deployment("tst")
# Only Oracle Linux's GPU platform images carry a driver: Ubuntu nodes and AMD nodes boot a
# custom image (its OCID a Terraform variable here).
UBUNTU = Image(operating_system="Canonical Ubuntu", operating_system_version="22.04", custom=True)
ROCM_OL = Image(custom=True)
R1 = Model(id="deepseek-ai/DeepSeek-R1", precision="fp8")
LLAMA_70B = Model(id="deepseek-ai/DeepSeek-R1-Distill-Llama-70B")
DISTILL = Model(id="deepseek-ai/DeepSeek-R1-Distill-Llama-8B")


def _stack(nodes: NodeGroup, model: Model, engine: Engine, **kw: Any) -> StackSpec:
    return StackSpec(deployment=DEPLOYMENT, nodes=nodes, model=model, engine=engine, **kw)


# Every engine, NVIDIA and AMD, dnf and apt, NVMe and none, one node and several.
INLINE: dict[str, StackSpec] = {
    "vllm-h100-dnf-nvme": _stack(
        NodeGroup(shape="BM.GPU.H100.8"), LLAMA_70B, Engine(kind="vllm", max_model_len=4096)
    ),
    "vllm-a10-apt-no-nvme-no-key": _stack(
        NodeGroup(shape="VM.GPU.A10.1", image=UBUNTU),
        DISTILL,
        Engine(kind="vllm", gpu_memory_utilization=0.85, extra_args=("--enforce-eager",)),
        endpoint=Endpoint(require_api_key=False),
    ),
    "vllm-mi300x-amd-dnf": _stack(
        NodeGroup(shape="BM.GPU.MI300X.8", image=ROCM_OL),
        R1,
        Engine(kind="vllm", max_model_len=32768),
    ),
    # R1 fp8 (673 GB) outgrows one H100.8 (640 GB): one replica pipelines over 2 nodes.
    "vllm-h100-2-nodes": _stack(NodeGroup(shape="BM.GPU.H100.8", count=2), R1, Engine(kind="vllm")),
    # Two such replicas: nodes 0-1 and 2-3, each with its own head.
    "vllm-h100-2-replicas": _stack(
        NodeGroup(shape="BM.GPU.H100.8", count=4), R1, Engine(kind="vllm")
    ),
    "sglang-h200-dnf": _stack(
        NodeGroup(shape="BM.GPU.H200.8"),
        R1,
        Engine(kind="sglang", max_model_len=65536, gpu_memory_utilization=0.9),
    ),
    # R1 in bf16 (1,342 GB) with SGLang told to keep 80% of each MI300X's 206 GB (1,319 GB a
    # node) needs a second node: one TP16 group over both.
    "sglang-mi300x-amd-apt-2-nodes": _stack(
        NodeGroup(shape="BM.GPU.MI300X.8", count=2, image=UBUNTU),
        Model(id="deepseek-ai/DeepSeek-R1", precision="bf16"),
        Engine(kind="sglang", max_model_len=131072, gpu_memory_utilization=0.8),
    ),
    "tgi-l40s-apt": _stack(
        NodeGroup(shape="BM.GPU.L40S.4", image=UBUNTU),
        DISTILL,
        Engine(kind="tgi", max_model_len=8192, gpu_memory_utilization=0.9),
    ),
    "tgi-a100-dnf": _stack(NodeGroup(shape="BM.GPU4.8"), DISTILL, Engine(kind="tgi")),
    "ollama-a10-dnf": _stack(
        NodeGroup(shape="VM.GPU.A10.2"), Model(id="deepseek-r1:14b"), Engine(kind="ollama")
    ),
    "ollama-mi300x-amd-apt": _stack(
        NodeGroup(shape="BM.GPU.MI300X.8", image=UBUNTU),
        Model(id="deepseek-r1:70b"),
        Engine(kind="ollama", max_model_len=16384),
    ),
    # Shared File Storage on every node: apt on a pipeline of two; dnf and read-only on one.
    "vllm-h100-apt-2-nodes-shared-fs": _stack(
        NodeGroup(shape="BM.GPU.H100.8", count=2, image=UBUNTU),
        R1,
        Engine(kind="vllm"),
        shared_storage=SharedStorage(),
    ),
    "tgi-a100-dnf-shared-fs-read-only": _stack(
        NodeGroup(shape="BM.GPU4.8"),
        DISTILL,
        Engine(kind="tgi"),
        shared_storage=SharedStorage(mount_path="/data/shared", access="read-only"),
    ),
    # A private or gated hub repo: the hub-token step before the weights pull, dnf and apt.
    "vllm-h100-dnf-nvme-hub-token": _stack(
        NodeGroup(shape="BM.GPU.H100.8"),
        LLAMA_70B.model_copy(update={"hub_token": True}),
        Engine(kind="vllm"),
    ),
    "sglang-mi300x-amd-apt-2-nodes-hub-token": _stack(
        NodeGroup(shape="BM.GPU.MI300X.8", count=2, image=UBUNTU),
        Model(id="deepseek-ai/DeepSeek-R1", precision="bf16", hub_token=True),
        Engine(kind="sglang", max_model_len=131072, gpu_memory_utilization=0.8),
    ),
}


EXAMPLES = load_examples()


@functools.cache
def _plan(stack: StackSpec) -> tuple[NodePlan, ...]:
    return plan_nodes(stack, resolve(stack))


def _nodes(stacks: Mapping[str, AnyStack], prefix: str) -> list[Any]:
    return [
        pytest.param(stack, i, id=f"{prefix}{name}-node{i}")
        for name, stack in stacks.items()
        for i in range(len(_plan(stack)))
    ]


ALL_NODES = _nodes(INLINE, "") + _nodes(EXAMPLES, "example-")


def _render(stack: StackSpec, i: int = 0) -> tuple[str, dict[str, str], dict[str, Any]]:
    node = _plan(stack)[i]
    text = node.cloud_config
    return text, node.files, yaml.safe_load(text)


def _written(doc: dict[str, Any]) -> dict[str, str]:
    return {f["path"]: f["content"] for f in doc["write_files"]}


def _engine_argv(files: dict[str, str]) -> list[str]:
    """The `docker run` line of engine-run.sh, split as bash would (before $-expansion)."""
    (line,) = [ln for ln in files[f"{LIB}/engine-run.sh"].splitlines() if ln.startswith("exec ")]
    return shlex.split(line)


# --- every node: the real validators -------------------------------------------------------


@pytest.mark.parametrize(("stack", "i"), ALL_NODES)
def test_cloud_config_passes_cloud_init_schema(stack: StackSpec, i: int) -> None:
    text, _, doc = _render(stack, i)
    assert text.startswith("#cloud-config\n")
    assert set(doc) == {"write_files", "runcmd"}
    assert_clean(cloud_init_schema(text), f"cloud-init schema ({stack.name} node {i})")


@pytest.mark.parametrize(("stack", "i"), ALL_NODES)
def test_written_files_are_exactly_the_node_files(stack: StackSpec, i: int) -> None:
    _, files, doc = _render(stack, i)
    assert _written(doc) == files
    modes = {f["path"]: f["permissions"] for f in doc["write_files"]}
    assert all(modes[p] == ("0755" if p.endswith(".sh") else "0644") for p in files)


@pytest.mark.parametrize(("stack", "i"), ALL_NODES)
def test_scripts_pass_shellcheck_as_rendered_and_as_written(stack: StackSpec, i: int) -> None:
    _, files, doc = _render(stack, i)
    written = _written(doc)
    scripts = {p: c for p, c in written.items() if p.endswith(".sh")}
    assert scripts and all(c.startswith("#!/bin/bash\n") for c in scripts.values())
    assert scripts == {p: c for p, c in files.items() if p.endswith(".sh")}
    assert_silent(shellcheck_files(scripts), f"shellcheck ({stack.name} node {i})")


@pytest.mark.parametrize(("stack", "i"), ALL_NODES)
def test_units_pass_systemd_analyze_verify(stack: StackSpec, i: int) -> None:
    _, _, doc = _render(stack, i)
    assert_silent(verify_units(_written(doc)), f"systemd-analyze verify ({stack.name} node {i})")


@pytest.mark.parametrize(("stack", "i"), ALL_NODES)
def test_user_data_is_a_stage0_of_at_most_4000_bytes(stack: StackSpec, i: int) -> None:
    # gzip, then base64: what Terraform puts in metadata.user_data. The node's files travel
    # in its bundle (docs/bundles.md), whatever their size.
    assert len(_plan(stack)[i].user_data_b64) <= MAX_STAGE0_B64


@pytest.mark.parametrize(("stack", "i"), ALL_NODES)
def test_every_unit_is_enabled_and_started(stack: StackSpec, i: int) -> None:
    _, files, doc = _render(stack, i)
    units = sorted(p.rsplit("/", 1)[1] for p in files if p.startswith(UNITS))
    enable, start = doc["runcmd"][1], doc["runcmd"][2]
    assert doc["runcmd"][0] == ["systemctl", "daemon-reload"]
    assert sorted(enable[2:]) == units
    # One transaction through the target: every step is queued once, none pulled in twice.
    assert start == ["systemctl", "start", "--no-block", "gpuform.target"]
    target = files[f"{UNITS}/gpuform.target"]
    wanted = next(line for line in target.splitlines() if line.startswith("Wants="))
    assert sorted(wanted.removeprefix("Wants=").split()) == [
        u for u in units if u.endswith(".service")
    ]


# --- engine flags ---------------------------------------------------------------------------


def test_vllm_flags() -> None:
    _, files, _ = _render(INLINE["vllm-h100-dnf-nvme"])
    argv = _engine_argv(files)
    image = argv.index("vllm/vllm-openai:v0.11.0")
    # The verified local copy (docs/weights.md), answering to the model id.
    assert argv[image + 1 : image + 6] == [
        "vllm", "serve", "/gpuform/weights", "--served-model-name", LLAMA_70B.id
    ]  # fmt: skip
    joined = " ".join(argv)
    assert "--tensor-parallel-size 8" in joined
    assert "--max-model-len 4096" in joined
    assert "--port 8000" in joined and "--host 0.0.0.0" in joined
    assert "--pipeline-parallel-size" not in joined
    assert "--gpu-memory-utilization 0.9" in joined  # the planner's fraction


def test_vllm_memory_fraction_and_extra_args() -> None:
    argv = " ".join(_engine_argv(_render(INLINE["vllm-a10-apt-no-nvme-no-key"])[1]))
    assert "--tensor-parallel-size 1" in argv
    assert "--gpu-memory-utilization 0.85" in argv
    assert argv.endswith("--enforce-eager")


def test_vllm_multi_node_runs_ray_head_and_worker() -> None:
    stack = INLINE["vllm-h100-2-nodes"]
    _, head, _ = _render(stack, 0)
    _, worker, _ = _render(stack, 1)
    argv = " ".join(_engine_argv(head))
    assert "--tensor-parallel-size 8 --pipeline-parallel-size 2" in argv
    assert "--distributed-executor-backend ray" in argv
    # Ray is its own unit on every node; the head's engine attaches to the running cluster.
    assert "exec ray start --head --block" in head[f"{LIB}/ray.sh"]
    assert "--port=6379" in head[f"{LIB}/ray.sh"]
    assert 'exec ray start --block --address="$head"' in worker[f"{LIB}/ray.sh"]
    assert 'ray health-check --address "$head"' in worker[f"{LIB}/ray.sh"]  # waits for the head
    run = head[f"{LIB}/engine-run.sh"]
    assert '-v /var/lib/gpuform/ray:/tmp/ray -e "RAY_ADDRESS=$GPUFORM_HEAD_IP:6379"' in run
    engine_unit = head[f"{UNITS}/gpuform-engine.service"]
    assert "gpuform-ray.service" in engine_unit.split("Requires=")[1].splitlines()[0]
    # Only the head serves HTTP, so only it runs the engine, waits for readiness, holds the key.
    assert f"{UNITS}/gpuform-ready.service" in head and f"{UNITS}/gpuform-api-key.service" in head
    assert not any(
        p.endswith(("ready.service", "api-key.service", "engine.service")) for p in worker
    )


def test_replicas_each_get_a_head_and_workers_join_their_own() -> None:
    stack = INLINE["vllm-h100-2-replicas"]
    topo = resolve(stack).topology
    assert (topo.nodes, topo.pp, topo.replicas) == (4, 2, 2)
    roles = {}
    for i in range(4):
        _, files, _ = _render(stack, i)
        roles[i] = "head" if "ray start --head" in files[f"{LIB}/ray.sh"] else "worker"
        serves = f"{UNITS}/gpuform-ready.service" in files
        assert serves == (roles[i] == "head"), i
        if roles[i] == "head":
            # Every replica is a full 2-stage pipeline, not one 4-stage one.
            assert "--pipeline-parallel-size 2" in " ".join(_engine_argv(files))
    assert roles == {0: "head", 1: "worker", 2: "head", 3: "worker"}


def test_sglang_flags() -> None:
    argv = " ".join(_engine_argv(_render(INLINE["sglang-h200-dnf"])[1]))
    assert "python3 -m sglang.launch_server --model-path /gpuform/weights" in argv
    assert "--served-model-name deepseek-ai/DeepSeek-R1" in argv
    assert "--tp-size 8 --ep-size 8" in argv and "--context-length 65536" in argv
    assert "--mem-fraction-static 0.9" in argv
    assert "--host 0.0.0.0 --port 30000" in argv


def test_sglang_multi_node_ranks() -> None:
    stack = INLINE["sglang-mi300x-amd-apt-2-nodes"]
    for i in (0, 1):
        run = _render(stack, i)[1][f"{LIB}/engine-run.sh"]
        assert (
            f'--tp-size 16 --ep-size 16 --dist-init-addr "${{GPUFORM_HEAD_IP}}":20000 '
            f"--nnodes 2 --node-rank {i}" in run
        )


def test_tgi_flags() -> None:
    argv = " ".join(_engine_argv(_render(INLINE["tgi-l40s-apt"])[1]))
    assert "text-generation-launcher --model-id /gpuform/weights --num-shard 4" in argv
    assert "--revision" not in argv
    assert "--max-total-tokens 8192 --max-input-tokens 8191" in argv
    assert "--cuda-memory-fraction 0.9" in argv
    assert "--port 8080" in argv


def test_ollama_serves_then_pulls_the_tag_before_ready() -> None:
    _, files, _ = _render(INLINE["ollama-mi300x-amd-apt"])
    argv = _engine_argv(files)
    assert argv[-2:] == ["ollama", "serve"]
    assert "OLLAMA_HOST=0.0.0.0:11434" in files[f"{LIB}/engine-run.sh"]
    assert "OLLAMA_CONTEXT_LENGTH=16384" in files[f"{LIB}/engine-run.sh"]
    assert "tag=deepseek-r1:70b" in files[f"{LIB}/model-pull.sh"]
    assert "ollama pull" in files[f"{LIB}/model-pull.sh"]
    ready = files[f"{UNITS}/gpuform-ready.service"]
    assert "Requires=gpuform-engine.service gpuform-model-pull.service" in ready


def test_extra_args_are_shell_quoted() -> None:
    engine = Engine(kind="vllm", extra_args=("--chat-template", "a b$HOME;`x`"))
    stack = _stack(NodeGroup(shape="VM.GPU.A10.1"), DISTILL, engine)
    assert _engine_argv(_render(stack)[1])[-2:] == ["--chat-template", "a b$HOME;`x`"]


# --- vendor, package manager, disks ---------------------------------------------------------

# The render and video groups go in by the host's numeric GIDs (_gpu_groups.sh.j2).
AMD_FLAGS = "--device /dev/kfd --device /dev/dri --security-opt seccomp=unconfined --ipc=host"


@pytest.mark.parametrize("name", [n for n in INLINE if "mi300x" in n])
def test_amd_gets_rocm_devices_and_no_nvidia_toolkit(name: str) -> None:
    text, files, _ = _render(INLINE[name])
    assert AMD_FLAGS in files[f"{LIB}/engine-run.sh"]
    assert 'args+=(--group-add "$render_gid")' in files[f"{LIB}/engine-run.sh"]
    assert "--gpus" not in text
    assert "nvidia-container-toolkit" not in text and "nvidia-ctk" not in text
    assert "/dev/kfd missing" in files[f"{LIB}/gpu-check.sh"]


@pytest.mark.parametrize("name", [n for n in INLINE if "mi300x" not in n])
def test_nvidia_gets_gpus_all_and_the_toolkit(name: str) -> None:
    _, files, _ = _render(INLINE[name])
    assert "--gpus all" in files[f"{LIB}/engine-run.sh"]
    assert "nvidia-container-toolkit" in files[f"{LIB}/runtime.sh"]
    assert "nvidia-ctk runtime configure --runtime=docker" in files[f"{LIB}/runtime.sh"]
    assert "--device /dev/kfd" not in files[f"{LIB}/engine-run.sh"]


@pytest.mark.parametrize("name", list(INLINE))
def test_package_manager_follows_the_image(name: str) -> None:
    stack = INLINE[name]
    runtime = _render(stack)[1][f"{LIB}/runtime.sh"]
    if stack.nodes.image.package_manager == "apt":
        assert "apt-get" in runtime and "dnf" not in runtime
    else:
        assert "dnf install -y docker-ce" in runtime and "apt-get" not in runtime


@pytest.mark.parametrize("name", list(INLINE))
def test_localdisk_only_on_shapes_with_nvme(name: str) -> None:
    stack = INLINE[name]
    files = _render(stack)[1]
    run = files[f"{LIB}/engine-run.sh"]
    if stack.nodes.shape_info.nvme_drives > 0:
        disk = files[f"{LIB}/localdisk.sh"]
        assert "md=${GPUFORM_LOCALDISK_MD:-/dev/md0}" in disk and "--level=0" in disk
        assert "drives=${GPUFORM_LOCALDISK_DRIVES:-/dev/nvme*n1}" in disk and "mkfs.xfs" in disk
        assert "opts=defaults,nofail,noatime,discard" in disk and "xfs $opts 0 2" in disk
        assert "mdadm --detail --brief" in disk
        assert (
            "Wants=network-online.target gpuform-localdisk.service"
            in files[f"{UNITS}/gpuform-engine.service"]
        )
        assert "cache=/mnt/localdisk/gpuform/cache" in run
    else:
        assert not any("localdisk" in p for p in files)
        assert "localdisk" not in run and "cache=/var/lib/gpuform/cache" in run


# --- API key --------------------------------------------------------------------------------


def test_api_key_comes_from_vault_by_instance_principal() -> None:
    _, files, _ = _render(INLINE["vllm-h100-dnf-nvme"])
    script = files[f"{LIB}/api-key.sh"]
    assert 'secrets secret-bundle get --secret-id "$id" --auth instance_principal' in script
    assert "base64 -d" in script and "umask 077" in script
    assert "printf '%s=%s\\n' VLLM_API_KEY \"$key\"" in script
    assert "--env-file /etc/gpuform/api-key.env" in files[f"{LIB}/engine-run.sh"]
    assert "Authorization: Bearer" in files[f"{LIB}/ready.sh"]
    assert "-H @-" in files[f"{LIB}/ready.sh"]  # header on stdin, not in argv
    assert 'echo "$key' not in script and "set -x" not in script
    engine = files[f"{UNITS}/gpuform-engine.service"]
    assert "Requires=gpuform-node-env.service gpuform-runtime.service" in engine
    assert "gpuform-api-key.service" in engine.split("Requires=")[1].splitlines()[0]


def test_sglang_key_is_appended_inside_the_container() -> None:
    files = _render(INLINE["sglang-h200-dnf"])[1]
    assert "GPUFORM_API_KEY" in files[f"{LIB}/api-key.sh"]
    assert 'exec "$@" --api-key "${GPUFORM_API_KEY}"' in files[f"{LIB}/entry.sh"]
    assert "--api-key" not in files[f"{LIB}/engine-run.sh"]


def test_tgi_key_goes_through_the_environment() -> None:
    files = _render(INLINE["tgi-l40s-apt"])[1]
    assert "printf '%s=%s\\n' API_KEY" in files[f"{LIB}/api-key.sh"]
    assert "--api-key" not in files[f"{LIB}/entry.sh"]


def test_ollama_has_no_api_key_and_says_so() -> None:
    text, files, _ = _render(INLINE["ollama-a10-dnf"])
    assert not any("api-key" in p for p in files)
    assert "ollama has no API-key option" in text
    assert "Authorization" not in files[f"{LIB}/ready.sh"]


def test_no_key_when_the_stack_does_not_require_one() -> None:
    text, files, _ = _render(INLINE["vllm-a10-apt-no-nvme-no-key"])
    assert not any("api-key" in p for p in files) and "env-file" not in text


# --- units: restart policy, readiness, metadata ---------------------------------------------


def test_engine_restarts_with_a_limit_and_reports_each_exit() -> None:
    files = _render(INLINE["vllm-h100-dnf-nvme"])[1]
    unit = files[f"{UNITS}/gpuform-engine.service"]
    for line in ("Restart=on-failure", "RestartSec=30", "StartLimitBurst=4"):
        assert line in unit.splitlines()
    assert "StartLimitIntervalSec=10800" in unit.split("[Service]")[0]  # [Unit] key in v230+
    assert f"ExecStopPost={LIB}/engine-stopped.sh" in unit
    assert f"ExecStartPre={LIB}/engine-pull.sh" in unit
    assert "cannot pull image" in files[f"{LIB}/engine-pull.sh"]


def test_readiness_is_bounded_and_marks_the_node_ready() -> None:
    files = _render(INLINE["sglang-h200-dnf"])[1]
    ready = files[f"{LIB}/ready.sh"]
    assert "http://127.0.0.1:30000/v1/models" in ready
    assert "deadline=$((SECONDS + 5400))" in ready
    assert "/var/lib/gpuform/ready" in ready
    unit = files[f"{UNITS}/gpuform-ready.service"]
    assert "After=gpuform-engine.service" in unit and "TimeoutStartSec=5460" in unit


def test_metadata_is_read_from_imds_v2() -> None:
    script = _render(INLINE["vllm-h100-dnf-nvme"])[1][f"{LIB}/node-env.sh"]
    assert "-H 'Authorization: Bearer Oracle'" in script
    assert "http://169.254.169.254/opc/v2/instance/metadata/$2" in script
    assert "--retry-max-time" in script and "--max-time 10" in script
    for key in ("gpuform_stack", "gpuform_api_key_secret_id", "gpuform_head_ip"):
        assert f" {key} " in script


# --- scripts fail with one line -------------------------------------------------------------


def _run_gpu_check(stack: StackSpec, tmp_path: Path, fake_smi: str | None) -> tuple[int, str]:
    script = tmp_path / "gpu-check.sh"
    script.write_text(_render(stack)[1][f"{LIB}/gpu-check.sh"])
    bindir = tmp_path / "bin"
    bindir.mkdir()
    path = str(bindir)
    if fake_smi is not None:
        smi = bindir / "nvidia-smi"
        smi.write_text(f"#!/bin/bash\n{fake_smi}\n")
        smi.chmod(0o755)
        path = f"{bindir}:{os.environ['PATH']}"
    result = subprocess.run(
        ["/bin/bash", str(script)], capture_output=True, text=True, env={"PATH": path}, timeout=30
    )
    return result.returncode, result.stderr


def test_gpu_check_names_a_missing_nvidia_smi(tmp_path: Path) -> None:
    code, err = _run_gpu_check(INLINE["vllm-h100-dnf-nvme"], tmp_path, None)
    assert code == 1
    assert err == (
        "gpuform: no NVIDIA GPU visible (nvidia-smi not found); "
        "this node needs the GPU driver image\n"
    )


def test_gpu_check_names_a_failing_driver(tmp_path: Path) -> None:
    smi = "echo 'NVIDIA-SMI has failed because it could not reach the driver.'; exit 9"
    code, err = _run_gpu_check(INLINE["vllm-h100-dnf-nvme"], tmp_path, smi)
    assert code == 1 and err.count("\n") == 1
    assert "nvidia-smi failed: NVIDIA-SMI has failed" in err


def test_gpu_check_counts_gpus(tmp_path: Path) -> None:
    smi = "echo 'GPU 0: NVIDIA H100 (UUID: a)'; echo 'GPU 1: NVIDIA H100 (UUID: b)'"
    code, err = _run_gpu_check(INLINE["vllm-h100-dnf-nvme"], tmp_path, smi)
    assert (code, err) == (1, "gpuform: only 2 of 8 NVIDIA GPUs visible on BM.GPU.H100.8\n")


# --- rendering's own guards -----------------------------------------------------------------


def test_strict_undefined_raises_on_a_missing_variable() -> None:
    with pytest.raises(UndefinedError):
        environment().from_string("docker run {{ ctx.engine.imagee }}").render(ctx=object())
    with pytest.raises(UndefinedError):
        environment().get_template("scripts/ready.sh.j2").render()


def test_templates_keep_trailing_newlines() -> None:
    assert environment().from_string("a\n").render() == "a\n"


def test_a_huge_engine_command_rides_in_the_bundle_not_in_user_data() -> None:
    # Random-looking flags: gzip cannot squeeze them the way it would a repeat. They used to
    # pass OCI's metadata cap; now they make the bundle bigger and user_data no bigger.
    flags = tuple(f"--x{(i * 7919) % 100003:x}{(i * 104729) % 65521:x}" for i in range(4000))
    small = _stack(NodeGroup(shape="VM.GPU.A10.1"), DISTILL, Engine(kind="vllm"))
    huge = _stack(NodeGroup(shape="VM.GPU.A10.1"), DISTILL, Engine(kind="vllm", extra_args=flags))
    before, after = (plan_nodes(s, resolve(s))[0] for s in (small, huge))
    assert after.bundle.size > before.bundle.size + 20_000
    assert len(after.user_data_b64) == len(before.user_data_b64) <= MAX_STAGE0_B64


def test_node_index_outside_the_stack_is_refused() -> None:
    stack = INLINE["vllm-h100-dnf-nvme"]
    with pytest.raises(ValueError, match="outside stack"):
        build_context(stack, 1, resolve(stack))


def test_node_count_comes_from_the_settings_not_the_spec() -> None:
    # A stack that leaves nodes.count unset gets the planner's count; Terraform creates
    # settings.nodes instances, so rendering must accept every one of them.
    stack = INLINE["vllm-h100-dnf-nvme"]
    settings = StackSizes(Topology(tp=8, pp=2, nodes_per_replica=2, gpus_per_node=8), 4096, None)
    worker = plan_nodes(stack, settings)[1].files
    assert "ray start --block" in worker[f"{LIB}/ray.sh"]
    with pytest.raises(ValueError, match="outside stack"):
        build_context(stack, 2, settings)


def test_settings_not_the_spec_decide_the_flags() -> None:
    stack = INLINE["vllm-h100-dnf-nvme"]
    settings = StackSizes(Topology(tp=4, pp=1, nodes_per_replica=1, gpus_per_node=4), 2048, 0.8)
    argv = " ".join(_engine_argv(plan_nodes(stack, settings)[0].files))
    assert "--tensor-parallel-size 4" in argv and "--max-model-len 2048" in argv
    assert "--gpu-memory-utilization 0.8" in argv
