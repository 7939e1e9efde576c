"""Node scripts on both OS paths, run for real with stand-ins for what a GPU node has and this
machine does not (dnf, firewalld, nvidia-smi, oci-growfs, docker's installers).

Each stand-in records its arguments; where a script writes to an absolute path of the image
(/etc/yum.repos.d, /usr/libexec/oci-growfs), it runs in a private mount namespace with an
overlay on that folder, so nothing on this machine changes. What is asserted is what a user
would check on a node: the one line the step prints, the exit status, and the commands it ran.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from infra.node_plan import plan_nodes
from infra.render.context import NodeContext
from infra.render.jinja import environment
from infra.render.steps import step
from infra.sizing.settings import resolve
from infra.specs import Endpoint, Engine, Model, NodeGroup, StackSpec
from infra.specs.storage import SharedStorage
from infra.stacks import load_examples

from . import nodecov, standins
from .factories import deployment

DEP = deployment("scripts")
UBUNTU_GPU = {"operating_system": "Canonical Ubuntu", "custom": True}
H100 = NodeGroup(shape="BM.GPU.H100.8")
A10_UBUNTU = NodeGroup(shape="VM.GPU.A10.1", image=UBUNTU_GPU)
MI300X = NodeGroup(shape="BM.GPU.MI300X.8", image=UBUNTU_GPU)


def _ctx(nodes: NodeGroup, model: str = "deepseek-ai/DeepSeek-R1-Distill-Llama-8B") -> NodeContext:
    stack = StackSpec(
        deployment=DEP,
        nodes=nodes,
        model=Model(id=model),
        engine=Engine(kind="vllm", max_model_len=4096),
        endpoint=Endpoint(require_api_key=False),
    )
    return plan_nodes(stack, resolve(stack))[0].context


class Node:
    """One script of one node, with its paths under tmp_path and stand-ins on PATH."""

    def __init__(self, tmp_path: Path, ctx: NodeContext, name: str, script: str = "") -> None:
        self.tmp = tmp_path
        self.calls = tmp_path / "calls"
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        paths = dataclasses.replace(
            ctx.paths, logs=str(tmp_path / "log"), etc=str(tmp_path / "etc"),
            state=str(tmp_path / "state"),
        )  # fmt: skip
        self.ctx = dataclasses.replace(ctx, paths=paths)
        if ctx.weights is not None:
            # The verified weights the weights step links; the engine mounts its target.
            (tmp_path / "weights-cache").mkdir()
            (tmp_path / "weights").symlink_to(tmp_path / "weights-cache")
            weights = dataclasses.replace(ctx.weights, link=str(tmp_path / "weights"))
            self.ctx = dataclasses.replace(self.ctx, weights=weights)
        s = step(name)
        template = f"scripts/{script or name}.sh.j2"
        text = environment().get_template(template).render(self.ctx.parts(s.reads))
        self.script = tmp_path / f"{script or name}.sh"
        self.script.write_text(text)
        self.overlays: dict[str, Path] = {}

    def stub(self, name: str, body: str = "exit 0", where: Path | None = None) -> None:
        """A command that records `name ARGS` and then runs `body`."""
        f = (where or self.bin) / name
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(f'#!/bin/bash\nprintf "%s\\n" "{name} $*" >>{self.calls}\n{body}\n')
        f.chmod(0o755)

    def without(self, *names: str) -> str:
        """A PATH like this machine's, less `names` (a node that has not installed them)."""
        dest = self.tmp / "system-bin"
        dest.mkdir(exist_ok=True)
        for folder in ("/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"):
            for f in Path(folder).glob("*"):
                target = dest / f.name
                if f.name not in names and not target.exists() and not target.is_symlink():
                    target.symlink_to(f)
        return f"{self.bin}:{dest}"

    def overlay(self, folder: str) -> Path:
        """A writable overlay on `folder` for the run; returns its upper dir (what lands there)."""
        upper = self.tmp / "overlay" / folder.strip("/").replace("/", "_")
        upper.mkdir(parents=True, exist_ok=True)
        self.overlays[folder] = upper
        return upper

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        argv = ["/bin/bash", str(self.script), *args]
        if self.overlays:
            mounts = []
            for i, (folder, upper) in enumerate(self.overlays.items()):
                work = self.tmp / "overlay-work" / str(i)
                work.mkdir(parents=True, exist_ok=True)
                mounts.append(
                    f"mount -t overlay overlay -o lowerdir={folder},upperdir={upper},"
                    f"workdir={work} {folder}"
                )
            setup = " && ".join([*mounts, 'exec "$@"'])
            argv = ["unshare", "--mount", "--propagation", "private", "--", "/bin/bash", "-c",
                    setup, "_", *argv]  # fmt: skip
        full = {"PATH": f"{self.bin}:{os.environ['PATH']}", **env}
        return subprocess.run(
            argv, capture_output=True, text=True, timeout=120, env=nodecov.script_env(full)
        )

    def called(self) -> list[str]:
        return self.calls.read_text().splitlines() if self.calls.exists() else []

    def log(self, name: str) -> str:
        return Path(self.ctx.paths.logs, name).read_text()


def _one_line(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    (line,) = r.stderr.splitlines()
    assert line.startswith("gpuform: "), line
    return line


# --- growfs -----------------------------------------------------------------------------------


def test_oracle_linux_grows_the_root_filesystem_with_oci_growfs(tmp_path: Path) -> None:
    node = Node(tmp_path, _ctx(H100), "growfs")
    node.stub("oci-growfs", where=node.overlay("/usr/libexec"))
    r = node.run()
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("gpuform: root filesystem is ") and r.stderr == ""
    assert node.called() == ["oci-growfs -y"]


def test_oracle_linux_without_oci_growfs_is_one_line(tmp_path: Path) -> None:
    node = Node(tmp_path, _ctx(H100), "growfs")
    node.overlay("/usr/libexec")  # an image without oci-utils
    if Path("/usr/libexec/oci-growfs").exists():
        pytest.skip("this machine has oci-growfs")
    assert "oci-growfs is missing (oci-utils)" in _one_line(node.run())


def test_oci_growfs_failing_is_one_line(tmp_path: Path) -> None:
    node = Node(tmp_path, _ctx(H100), "growfs")
    node.stub("oci-growfs", "echo 'cannot grow' >&2; exit 1", where=node.overlay("/usr/libexec"))
    line = _one_line(node.run())
    assert "oci-growfs could not grow the root filesystem" in line
    assert "cannot grow" in node.log("growfs.log")


# --- gpu-check --------------------------------------------------------------------------------


def _smi(gpus: int) -> str:
    rows = "\\n".join(f"GPU {i}: NVIDIA H100 80GB HBM3 (UUID: GPU-{i})" for i in range(gpus))
    return f'[ "$1" = -L ] && printf "{rows}\\n"'


@pytest.mark.parametrize(
    ("gpus", "fabric", "words"),
    [
        (8, "exit 0", None),
        (4, "exit 0", "only 4 of 8 NVIDIA GPUs visible on BM.GPU.H100.8"),
        (8, "exit 3", "nvidia-fabricmanager is not running"),
    ],
    ids=["ready", "missing-gpus", "no-fabric-manager"],
)
def test_nvidia_gpus_and_the_fabric_manager(
    tmp_path: Path, gpus: int, fabric: str, words: str | None
) -> None:
    node = Node(tmp_path, _ctx(H100), "gpu-check")
    node.stub("nvidia-smi", _smi(gpus))
    node.stub("systemctl", fabric)
    r = node.run()
    if words is None:
        assert r.returncode == 0, r.stderr
        assert r.stdout == "gpuform: 8 NVIDIA GPUs visible, nvidia-fabricmanager active\n"
    else:
        assert words in _one_line(r)


def test_nvidia_smi_failing_is_one_line_with_its_last_words(tmp_path: Path) -> None:
    node = Node(tmp_path, _ctx(H100), "gpu-check")
    node.stub("nvidia-smi", "echo 'NVIDIA-SMI has failed because it could not communicate'; exit 9")
    line = _one_line(node.run())
    assert "nvidia-smi failed: NVIDIA-SMI has failed because it could not communicate" in line


def test_a_node_without_nvidia_smi_is_one_line(tmp_path: Path) -> None:
    node = Node(tmp_path, _ctx(A10_UBUNTU), "gpu-check")
    r = node.run(PATH=f"{node.bin}:/usr/sbin:/usr/bin:/sbin:/bin")
    if Path("/usr/bin/nvidia-smi").exists():
        pytest.skip("this machine has nvidia-smi")
    assert "no NVIDIA GPU visible (nvidia-smi not found)" in _one_line(r)


def test_amd_without_kfd_is_one_line(tmp_path: Path) -> None:
    if Path("/dev/kfd").exists():
        pytest.skip("this machine has /dev/kfd")
    node = Node(tmp_path, _ctx(MI300X, "deepseek-ai/DeepSeek-R1-Distill-Llama-70B"), "gpu-check")
    assert "no AMD GPU visible (/dev/kfd missing)" in _one_line(node.run())


# --- runtime: docker and the NVIDIA toolkit, with dnf and with apt -------------------------------

_CURL = (
    'out=""; while [ $# -gt 0 ]; do [ "$1" = -o ] && out=$2; shift; done\n'
    '[ -n "$out" ] && : >"$out"'
)


def test_oracle_linux_installs_docker_and_the_toolkit_with_dnf(tmp_path: Path) -> None:
    node = Node(tmp_path, _ctx(NodeGroup(shape="VM.GPU.A10.1")), "runtime")
    etc = node.overlay("/etc")
    (etc / "yum.repos.d").mkdir()  # Oracle Linux has it; dnf reads its repo files there
    for name, body in {"curl": _CURL, "dnf": "exit 0", "nvidia-ctk": "exit 0",
                       "systemctl": "exit 0"}.items():  # fmt: skip
        node.stub(name, body)
    r = node.run(PATH=node.without("docker", "nvidia-ctk"))
    assert r.returncode == 0, r.stderr + node.log("runtime.log")
    assert r.stdout == "gpuform: container runtime ready\n"
    calls = node.called()
    assert "dnf install -y docker-ce docker-ce-cli containerd.io nvidia-container-toolkit" in calls
    assert calls[-3:] == [
        "nvidia-ctk runtime configure --runtime=docker",
        "systemctl enable docker.service",
        "systemctl restart docker.service",
    ]
    assert (etc / "yum.repos.d" / "docker-ce.repo").exists()
    assert (etc / "yum.repos.d" / "nvidia-container-toolkit.repo").exists()


def test_oracle_linux_offline_runtime_is_one_line_naming_the_internet(tmp_path: Path) -> None:
    node = Node(tmp_path, _ctx(NodeGroup(shape="VM.GPU.A10.1")), "runtime")
    node.overlay("/etc")
    node.stub("curl", "echo 'curl: (6) Could not resolve host: download.docker.com' >&2; exit 6")
    line = _one_line(node.run(PATH=node.without("docker", "nvidia-ctk")))
    assert "cannot download the docker-ce repo file; the node needs internet access" in line


def test_ubuntu_amd_installs_docker_io_with_apt(tmp_path: Path) -> None:
    node = Node(tmp_path, _ctx(MI300X, "deepseek-ai/DeepSeek-R1-Distill-Llama-70B"), "runtime")
    node.overlay("/etc")
    node.stub("apt-get", 'echo "Hit:1 http://archive.ubuntu.com/ubuntu jammy InRelease"')
    node.stub("systemctl")
    node.stub("mountpoint", "exit 1")  # no local NVMe array mounted
    r = node.run(PATH=node.without("docker"))
    assert r.returncode == 0, r.stderr + node.log("runtime.log")
    calls = node.called()
    assert "apt-get -o DPkg::Lock::Timeout=300 update" in calls
    assert any(c.endswith("install -y docker.io") for c in calls), calls


def test_ubuntu_apt_mirror_unreachable_is_one_line(tmp_path: Path) -> None:
    node = Node(tmp_path, _ctx(MI300X, "deepseek-ai/DeepSeek-R1-Distill-Llama-70B"), "runtime")
    node.overlay("/etc")
    node.stub(
        "apt-get",
        'echo "W: Failed to fetch http://archive.ubuntu.com/ubuntu/dists/jammy/InRelease"',
    )
    node.stub("mountpoint", "exit 1")
    line = _one_line(node.run(PATH=node.without("docker")))
    assert "apt-get update could not reach the package mirrors" in line


# --- firewall: firewalld rich rules on Oracle Linux ----------------------------------------------


def test_oracle_linux_opens_the_served_port_to_the_vcn_with_firewalld(tmp_path: Path) -> None:
    ctx = _ctx(NodeGroup(shape="VM.GPU.A10.1"))
    assert ctx.firewall is not None and ctx.firewall.tcp_ports
    node = Node(tmp_path, ctx, "firewall")
    node.stub("systemctl")  # firewalld is running
    node.stub("firewall-cmd", '[ "$1" = --query-rich-rule ] || true')
    r = node.run()
    assert r.returncode == 0, r.stderr + node.log("firewall.log")
    port = ctx.firewall.tcp_ports[0]
    rule = (
        f'rule family="ipv4" source address="{ctx.firewall.vcn_cidr}" port port="{port}" '
        'protocol="tcp" accept'
    )
    assert f"firewall-cmd --permanent --add-rich-rule={rule}" in node.called()
    assert "firewall-cmd --reload" in node.called()
    assert r.stdout.startswith("gpuform: ")


def test_oracle_linux_without_firewalld_running_opens_nothing(tmp_path: Path) -> None:
    node = Node(tmp_path, _ctx(NodeGroup(shape="VM.GPU.A10.1")), "firewall")
    node.stub("systemctl", "exit 3")
    node.stub("firewall-cmd")
    r = node.run()
    assert r.returncode == 0 and "firewalld is not running" in r.stdout
    assert not any(c.startswith("firewall-cmd") for c in node.called())


def test_a_rule_firewalld_refuses_is_one_line(tmp_path: Path) -> None:
    node = Node(tmp_path, _ctx(NodeGroup(shape="VM.GPU.A10.1")), "firewall")
    node.stub("systemctl")
    node.stub("firewall-cmd", "echo 'Error: INVALID_RULE' >&2; exit 13")
    assert "firewall-cmd could not add: rule family=" in _one_line(node.run())


# --- firewall on Ubuntu: iptables ACCEPT rules ahead of the image's REJECT, saved once ---------


def test_ubuntu_inserts_accept_rules_and_saves_them_once(tmp_path: Path) -> None:
    ctx = _ctx(A10_UBUNTU)
    assert ctx.firewall is not None
    node = Node(tmp_path, ctx, "firewall")
    state = tmp_path / "rules"
    # iptables -C answers from the rules inserted so far, as the kernel's table would.
    node.stub(
        "iptables",
        f'if [ "$1" = -C ]; then shift 2; grep -qxF -- "$*" {state} 2>/dev/null; exit; fi\n'
        f'[ "$1" = -I ] && shift 3 && echo "$*" >>{state}',
    )
    node.stub("netfilter-persistent")
    first = node.run()
    assert first.returncode == 0, first.stderr + node.log("firewall.log")
    assert "(saved to /etc/iptables/rules.v4)" in first.stdout
    again = node.run()
    assert again.returncode == 0 and "(already saved)" in again.stdout
    assert [c for c in node.called() if c.startswith("netfilter-persistent")] == [
        "netfilter-persistent save"
    ]


def test_ubuntu_without_iptables_is_one_line(tmp_path: Path) -> None:
    node = Node(tmp_path, _ctx(A10_UBUNTU), "firewall")
    line = _one_line(node.run(PATH=node.without("iptables")))
    assert "iptables is not installed" in line


# --- growfs on Ubuntu: growpart, then the filesystem's own tool ---------------------------------


@pytest.mark.parametrize(
    ("fstype", "growpart", "tool"),
    [
        ("ext4", 'echo "CHANGED: partition=1"', "resize2fs"),
        ("xfs", 'echo "NOCHANGE: partition 1"; exit 1', "xfs_growfs"),
    ],
    ids=["ext4-grown", "xfs-already-full"],
)
def test_ubuntu_grows_the_partition_then_the_filesystem(
    tmp_path: Path, fstype: str, growpart: str, tool: str
) -> None:
    node = Node(tmp_path, _ctx(A10_UBUNTU), "growfs")
    node.stub("findmnt", f'case "$*" in *FSTYPE*) echo {fstype} ;; *) echo /dev/sda1 ;; esac')
    node.stub("lsblk", "echo sda")
    node.stub("growpart", growpart)
    node.stub(tool)
    if not Path("/sys/class/block/sda1/partition").exists():
        sys_block = node.overlay("/sys/class/block")
        (sys_block / "sda1").mkdir()
        (sys_block / "sda1" / "partition").write_text("1\n")
    r = node.run()
    assert r.returncode == 0, r.stderr + node.log("growfs.log")
    assert r.stdout.startswith("gpuform: root filesystem is ")
    assert "growpart /dev/sda 1" in node.called()
    assert any(c.startswith(tool) for c in node.called())


def test_ubuntu_root_on_an_overlay_has_nothing_to_grow(tmp_path: Path) -> None:
    node = Node(tmp_path, _ctx(A10_UBUNTU), "growfs")
    node.stub("findmnt", "echo overlay")
    r = node.run()
    assert (
        r.returncode == 0
        and r.stdout == "gpuform: / is on overlay, not a disk partition; nothing to grow\n"
    )


# --- the engine unit's helpers: pull, stop line, readiness ---------------------------------------


@pytest.mark.parametrize(
    ("docker", "out", "pulled"),
    [
        ('[ "$1 $2" = "image inspect" ] && exit 0; exit 0', "", False),
        ('[ "$1 $2" = "image inspect" ] && exit 1; exit 0', "gpuform: pulled ", True),
    ],
    ids=["already-local", "pulled"],
)
def test_the_engine_image_is_pulled_unless_local(
    tmp_path: Path, docker: str, out: str, pulled: bool
) -> None:
    node = Node(tmp_path, _ctx(A10_UBUNTU), "engine", "engine-pull")
    node.stub("docker", docker)
    r = node.run()
    assert r.returncode == 0 and r.stdout.startswith(out) and r.stderr == "", r
    assert any(c.startswith("docker pull -q ") for c in node.called()) == pulled


def test_an_image_that_cannot_be_pulled_is_one_line_with_dockers_last_words(tmp_path: Path) -> None:
    node = Node(tmp_path, _ctx(A10_UBUNTU), "engine", "engine-pull")
    node.stub(
        "docker",
        '[ "$1" = pull ] && { echo "manifest unknown" >&2; exit 1; }\n'
        '[ "$1" = image ] && exit 1; exit 0',
    )
    line = _one_line(node.run())
    assert "(manifest unknown); check the image name" in line


def test_a_node_without_docker_cannot_pull(tmp_path: Path) -> None:
    node = Node(tmp_path, _ctx(A10_UBUNTU), "engine", "engine-pull")
    assert "docker is not installed" in _one_line(node.run(PATH=node.without("docker")))


@pytest.mark.parametrize("result", ["success", "exit-code"])
def test_a_failed_engine_run_leaves_one_line(tmp_path: Path, result: str) -> None:
    node = Node(tmp_path, _ctx(A10_UBUNTU), "engine", "engine-stopped")
    node.stub("docker")
    r = node.run(SERVICE_RESULT=result, EXIT_CODE="exited", EXIT_STATUS="1")
    assert r.returncode == 0 and r.stdout == ""
    if result == "success":
        assert r.stderr == ""
    else:
        (line,) = r.stderr.splitlines()
        assert line.startswith("gpuform: engine stopped (exit-code, exited 1); systemd allows ")


def test_ready_marks_the_node_once_the_engine_answers(tmp_path: Path) -> None:
    node = Node(tmp_path, _ctx(A10_UBUNTU), "ready")
    node.stub("curl", "printf 200")
    r = node.run()
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("gpuform: ready: http://127.0.0.1:")
    assert (tmp_path / "state" / "ready").read_text().startswith("20")


def test_ready_stops_waiting_once_the_engine_unit_failed(tmp_path: Path) -> None:
    node = Node(tmp_path, _ctx(A10_UBUNTU), "ready")
    node.stub("curl", "printf 000")
    node.stub("systemctl", "exit 0")  # is-failed: yes
    line = _one_line(node.run())
    assert "the engine unit failed before it answered (last HTTP status 000)" in line
    assert not (tmp_path / "state" / "ready").exists()


# --- the containers' command lines: engine-run.sh, ray-run.sh, ray.sh, torchrun-env.sh ----------


def _pair(kind: str = "vllm") -> tuple[NodeContext, NodeContext]:
    stack = StackSpec(
        deployment=DEP,
        nodes=NodeGroup(shape="BM.GPU.H100.8", count=2),
        model=Model(id="deepseek-ai/DeepSeek-R1", precision="fp8"),
        engine=Engine(kind=kind),
        endpoint=Endpoint(require_api_key=False),
    )
    head, worker = plan_nodes(stack, resolve(stack))
    return head.context, worker.context


def _docker_run(node: Node) -> list[str]:
    runs = [c for c in node.called() if c.startswith("docker run ")]
    assert len(runs) == 1, node.called()
    return runs[0].split()


def _in_tmp(ctx: NodeContext, tmp_path: Path) -> NodeContext:
    ray = dataclasses.replace(ctx.ray, session_dir=str(tmp_path / "ray")) if ctx.ray else None
    return dataclasses.replace(ctx, ray=ray)


VNICS = '[{"vnicId": "ocid1.vnic.oc1..a", "privateIp": "10.0.16.10", "isPrimary": true}]'


def test_the_head_engine_runs_with_its_own_address_rdma_and_ray(tmp_path: Path) -> None:
    head, _ = _pair()
    node = Node(tmp_path, _in_tmp(head, tmp_path), "engine", "engine-run")
    node.stub("curl", f"echo '{VNICS}'")
    node.stub("docker")
    r = node.run()
    assert r.returncode == 0, r.stderr
    argv = " ".join(_docker_run(node))
    for part in ("-e GPUFORM_HEAD_IP=10.0.16.10", "-e VLLM_HOST_IP=10.0.16.10",
                 "--device /dev/infiniband", "--ulimit memlock=-1:-1",
                 "-e RAY_ADDRESS=10.0.16.10:6379", "--pid=host"):  # fmt: skip
        assert part in argv, part


def test_a_head_whose_metadata_lists_no_vnic_is_one_line(tmp_path: Path) -> None:
    head, _ = _pair()
    node = Node(tmp_path, _in_tmp(head, tmp_path), "engine", "engine-run")
    node.stub("curl", "echo '[]'")
    node.stub("docker")
    assert "instance metadata lists no VNIC address" in _one_line(node.run())


def test_a_worker_ray_joins_its_head_over_its_route_to_it(tmp_path: Path) -> None:
    _, worker = _pair()
    node = Node(tmp_path, _in_tmp(worker, tmp_path), "ray", "ray-run")
    node.stub("docker", '[ "$1 $2" = "image inspect" ] && exit 0; exit 0')
    node.stub("ip", "echo '10.0.16.10 via 10.0.16.1 dev eth0 src 10.0.16.11 uid 0'")
    r = node.run(GPUFORM_HEAD_IP="10.0.16.10")
    assert r.returncode == 0, r.stderr
    argv = " ".join(_docker_run(node))
    assert "-e GPUFORM_NODE_IP=10.0.16.11" in argv and "-e GPUFORM_HEAD_IP=10.0.16.10" in argv


@pytest.mark.parametrize(
    ("env", "route", "words"),
    [
        ({}, "", "metadata key gpuform_head_ip is empty"),
        ({"GPUFORM_HEAD_IP": "10.0.16.10"}, "", "no route to the head node 10.0.16.10"),
    ],
    ids=["no-head-ip", "no-route"],
)
def test_a_worker_without_its_head_is_one_line(
    tmp_path: Path, env: dict[str, str], route: str, words: str
) -> None:
    _, worker = _pair()
    node = Node(tmp_path, _in_tmp(worker, tmp_path), "ray", "ray-run")
    node.stub("docker", '[ "$1 $2" = "image inspect" ] && exit 0; exit 0')
    node.stub("ip", f"echo '{route}'")
    assert words in _one_line(node.run(**env))


def test_ray_in_the_container_starts_head_and_worker_with_pinned_ports(tmp_path: Path) -> None:
    head, worker = _pair()
    (tmp_path / "h").mkdir()
    h = Node(tmp_path / "h", head, "ray", "ray")
    h.stub("ray")
    r = h.run(GPUFORM_NODE_IP="10.0.16.10")
    assert r.returncode == 0, r.stderr
    (start,) = h.called()
    assert start.startswith("ray start --head --block --node-ip-address=10.0.16.10 --port=6379")
    assert "--node-manager-port=6380" in start and "--max-worker-port=10999" in start
    (tmp_path / "w").mkdir()
    w = Node(tmp_path / "w", worker, "ray", "ray")
    w.stub("ray")
    r = w.run(GPUFORM_NODE_IP="10.0.16.11", GPUFORM_HEAD_IP="10.0.16.10")
    assert r.returncode == 0, r.stderr
    assert w.called()[0] == "ray health-check --address 10.0.16.10:6379"
    assert w.called()[1].startswith("ray start --block --address=10.0.16.10:6379")


def test_ray_without_the_nodes_address_is_one_line(tmp_path: Path) -> None:
    _, worker = _pair()
    node = Node(tmp_path, worker, "ray", "ray")
    assert "GPUFORM_NODE_IP is empty" in _one_line(node.run())


def test_an_amd_engine_gets_the_hosts_render_and_video_gids(tmp_path: Path) -> None:
    node = Node(
        tmp_path, _ctx(MI300X, "deepseek-ai/DeepSeek-R1-Distill-Llama-70B"), "engine", "engine-run"
    )
    node.stub(
        "getent", 'case $2 in render) echo "render:x:993:" ;; video) echo "video:x:44:" ;; esac'
    )
    node.stub("docker")
    r = node.run()
    assert r.returncode == 0, r.stderr
    argv = " ".join(_docker_run(node))
    assert "--group-add 993" in argv and "--group-add 44" in argv and "--device /dev/kfd" in argv


def test_an_amd_host_without_a_render_group_is_one_line(tmp_path: Path) -> None:
    node = Node(
        tmp_path, _ctx(MI300X, "deepseek-ai/DeepSeek-R1-Distill-Llama-70B"), "engine", "engine-run"
    )
    node.stub("getent", "exit 2")
    node.stub("docker")
    assert "this host has no render group" in _one_line(node.run())


# --- api-key.sh, torchrun-env.sh, model-pull.sh --------------------------------------------------

KEY = "gpuform-test-api-key-0123456789"


def _with_key() -> NodeContext:
    stack = StackSpec(
        deployment=DEP,
        nodes=NodeGroup(shape="VM.GPU.A10.1"),
        model=Model(id="deepseek-ai/DeepSeek-R1-Distill-Llama-8B"),
        engine=Engine(kind="vllm", max_model_len=4096),
    )
    return plan_nodes(stack, resolve(stack))[0].context


@pytest.mark.parametrize(
    ("answer", "words"),
    [(f"echo {__import__('base64').b64encode(KEY.encode()).decode()}", None),
     ("exit 1", "cannot read secret ocid1.vaultsecret.x by instance principal after 0s")],
    ids=["written", "policy-not-there"],
)  # fmt: skip
def test_the_api_key_lands_in_its_env_file_by_the_client_step_named(
    tmp_path: Path, answer: str, words: str | None
) -> None:
    ctx = _with_key()
    assert ctx.api_key is not None
    ctx = dataclasses.replace(
        ctx,
        api_key=dataclasses.replace(ctx.api_key, env_file=str(tmp_path / "etc" / "api-key.env")),
        limits=dataclasses.replace(ctx.limits, secret_retry_s=0),
    )
    (tmp_path / "etc").mkdir()
    node = Node(tmp_path, ctx, "api-key")
    node.stub("oci", answer)
    r = node.run(GPUFORM_API_KEY_SECRET_ID="ocid1.vaultsecret.x", GPUFORM_OCI=str(node.bin / "oci"))
    if words is None:
        assert r.returncode == 0, r.stderr
        assert (tmp_path / "etc" / "api-key.env").read_text() == f"VLLM_API_KEY={KEY}\n"
    else:
        assert words in _one_line(r)
    assert KEY not in r.stdout + r.stderr


def test_the_api_key_step_without_the_client_is_one_line(tmp_path: Path) -> None:
    node = Node(tmp_path, _with_key(), "api-key")
    line = _one_line(node.run(GPUFORM_API_KEY_SECRET_ID="ocid1.vaultsecret.x"))
    assert "no OCI CLI in " in line and "gpuform-oci-client.service installs it" in line


def test_torchrun_env_names_the_master_and_this_nodes_rank(tmp_path: Path) -> None:
    stack = load_examples()["deepseek-v2-lite-megatron"]
    ctx = plan_nodes(stack, resolve(stack))[0].context
    assert ctx.torchrun is not None
    env_file = tmp_path / "torchrun.env"
    ctx = dataclasses.replace(
        ctx, torchrun=dataclasses.replace(ctx.torchrun, env_file=str(env_file))
    )
    node = Node(tmp_path, ctx, "torchrun-env")
    node.stub("curl", f"echo '{VNICS}'")
    r = node.run()
    assert r.returncode == 0, r.stderr
    env = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
    assert env["MASTER_ADDR"] == "10.0.16.10" and env["NODE_RANK"] == "0"


def test_ollama_pulls_its_tag_once_the_server_answers(tmp_path: Path) -> None:
    stack = StackSpec(
        deployment=DEP,
        nodes=NodeGroup(shape="BM.GPU.H100.8"),
        model=Model(id="deepseek-r1:70b"),
        engine=Engine(kind="ollama"),
        endpoint=Endpoint(require_api_key=False),
    )
    ctx = plan_nodes(stack, resolve(stack))[0].context
    node = Node(tmp_path, ctx, "model-pull")
    node.stub("curl")
    node.stub("docker")
    r = node.run()
    assert r.returncode == 0 and r.stdout == "gpuform: pulled deepseek-r1:70b\n", r.stderr
    assert any("ollama pull deepseek-r1:70b" in c for c in node.called())
    (tmp_path / "f").mkdir()
    failed = Node(tmp_path / "f", ctx, "model-pull")
    failed.stub("curl", "exit 7")
    failed.stub("systemctl")  # is-failed: the engine unit failed
    assert "the engine unit failed before Ollama answered" in _one_line(failed.run())


# --- the branches the tests above leave: failures on the way, and the rarer layouts ---------------


def _stack_ctx(**kw: Any) -> NodeContext:
    stack = StackSpec(
        deployment=DEP,
        nodes=kw.pop("nodes", NodeGroup(shape="VM.GPU.A10.1")),
        model=Model(id=kw.pop("model", "deepseek-ai/DeepSeek-R1-Distill-Llama-8B")),
        engine=kw.pop("engine", Engine(kind="vllm", max_model_len=4096)),
        **kw,
    )
    return plan_nodes(stack, resolve(stack))[0].context


@pytest.mark.parametrize("kind", ["vllm", "sglang"])
def test_the_entrypoint_runs_the_server_argv_and_the_key_where_the_engine_wants_it(
    tmp_path: Path, kind: str
) -> None:
    ctx = _stack_ctx(engine=Engine(kind=kind, max_model_len=4096))
    node = Node(tmp_path, ctx, "engine", "entry")
    node.stub("serve")
    assert ctx.api_key is not None
    r = node.run("serve", "--port", "8000", **{ctx.api_key.support.env_var: "k"})
    assert r.returncode == 0, r.stderr
    (call,) = node.called()
    via_argv = ctx.api_key.support.via_argv
    assert call == ("serve --port 8000 --api-key k" if via_argv else "serve --port 8000")


def test_engine_env_api_key_file_and_shared_storage_reach_the_container(tmp_path: Path) -> None:
    ctx = _stack_ctx(shared_storage=SharedStorage(mount_path="/mnt/shared"))
    assert ctx.api_key is not None and ctx.storage is not None
    node = Node(tmp_path, ctx, "engine", "engine-run")
    node.stub("docker")
    r = node.run()
    assert r.returncode == 0, r.stderr
    argv = " ".join(_docker_run(node))
    assert f"--env-file {ctx.api_key.env_file}" in argv and "-v /mnt/shared:/mnt/shared" in argv
    for name, value in ctx.engine.command.env if ctx.engine else ():
        assert f"-e {name}={value}" in argv


def test_a_replica_node_opens_every_tcp_port_to_the_vcn_with_firewalld(tmp_path: Path) -> None:
    head, _ = _pair()
    assert head.firewall is not None and head.firewall.peer_tcp_all
    node = Node(tmp_path, head, "firewall")
    node.stub("systemctl")
    node.stub("firewall-cmd")
    r = node.run()
    assert r.returncode == 0, r.stderr
    rule = (
        f'rule family="ipv4" source address="{head.firewall.vcn_cidr}" protocol value="tcp" accept'
    )
    assert f"firewall-cmd --permanent --add-rich-rule={rule}" in node.called()
    assert "all TCP ports" in r.stdout


def test_a_ray_worker_waits_for_its_head_then_joins(tmp_path: Path) -> None:
    _, worker = _pair()
    node = Node(tmp_path, worker, "ray", "ray")
    tries = tmp_path / "tries"
    node.stub(
        "ray", f'if [ "$1" = health-check ]; then echo x >>{tries}; [ $(wc -l <{tries}) -ge 2 ]; fi'
    )
    r = node.run(GPUFORM_NODE_IP="10.0.16.11", GPUFORM_HEAD_IP="10.0.16.10")
    assert r.returncode == 0, r.stderr
    assert [c.split()[1] for c in node.called()] == ["health-check", "health-check", "start"]


def _ollama_ctx() -> NodeContext:
    """An Ollama node: the engine that pulls its model through its own server."""
    return _stack_ctx(
        nodes=NodeGroup(shape="BM.GPU.H100.8"),
        model="deepseek-r1:70b",
        engine=Engine(kind="ollama"),
        endpoint=Endpoint(require_api_key=False),
    )


def test_ollama_that_cannot_pull_its_tag_is_one_line(tmp_path: Path) -> None:
    ctx = _ollama_ctx()
    node = Node(tmp_path, ctx, "model-pull")
    node.stub("curl")
    node.stub("docker", 'echo "pull model manifest: file does not exist" >&2; exit 1')
    assert "ollama could not pull deepseek-r1:70b (pull model manifest" in _one_line(node.run())


def test_a_pulling_engine_whose_server_never_answers_is_one_line(tmp_path: Path) -> None:
    """The pull waits (one poll, one sleep) for the server, then gives up in one line."""
    ctx = _ollama_ctx()
    ctx = dataclasses.replace(ctx, limits=dataclasses.replace(ctx.limits, server_up_timeout_s=1))
    node = Node(tmp_path, ctx, "model-pull")
    node.stub("curl", "exit 7")  # connection refused, every time
    node.stub("systemctl", "exit 1")  # the engine unit has not failed
    assert ctx.engine is not None
    line = _one_line(node.run())
    assert f"did not answer on port {ctx.engine.port} within 1s" in line, line


def test_ready_gives_up_after_its_bound_in_one_line(tmp_path: Path) -> None:
    ctx = _ctx(A10_UBUNTU)
    ctx = dataclasses.replace(ctx, limits=dataclasses.replace(ctx.limits, ready_timeout_s=0))
    node = Node(tmp_path, ctx, "ready")
    assert "did not answer 200 within 0s (last HTTP status 000)" in _one_line(node.run())


def test_an_oracle_linux_release_without_a_packaged_cli_is_one_line(tmp_path: Path) -> None:
    node = Node(tmp_path, _ctx(NodeGroup(shape="VM.GPU.A10.1")), "oci-client")
    usr_bin, os_release = standins.oracle_linux_root(
        tmp_path / "root", "7.9", Path("/usr/bin/python3"), tmp_path / "dnf.calls"
    )
    argv = standins.in_oracle_linux(usr_bin, os_release, tmp_path, ["/bin/bash", str(node.script)])
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                       env=nodecov.script_env(dict(os.environ)))  # fmt: skip
    assert "no packaged OCI CLI known for Oracle Linux 7.9; use Oracle Linux 8 or 9" in _one_line(r)


def test_ubuntu_pypi_unreachable_for_the_cli_is_one_line(tmp_path: Path) -> None:
    node = Node(tmp_path, _ctx(A10_UBUNTU), "oci-client")
    node.ctx = dataclasses.replace(
        node.ctx, paths=dataclasses.replace(node.ctx.paths, oci_venv=str(tmp_path / "venv"))
    )
    node.script.write_text(
        environment()
        .get_template("scripts/oci-client.sh.j2")
        .render(node.ctx.parts(step("oci-client").reads))
    )
    index = tmp_path / "empty-index"
    index.mkdir()
    r = node.run(PIP_NO_INDEX="1", PIP_FIND_LINKS=str(index))
    assert "the OCI CLI cannot be installed from PyPI; the node needs internet access" in _one_line(
        r
    )


@pytest.mark.parametrize(
    ("stubs", "words"),
    [
        ({"curl": '[[ "$*" == *nvidia* ]] && exit 6; ' + _CURL, "dnf": "exit 0"},
         "cannot download the NVIDIA container toolkit repo file"),
        ({"curl": _CURL, "dnf": "exit 1"},
         "dnf could not install docker-ce and nvidia-container-toolkit"),
    ],
    ids=["toolkit-repo", "dnf-install"],
)  # fmt: skip
def test_oracle_linux_runtime_failures_are_one_line(
    tmp_path: Path, stubs: dict[str, str], words: str
) -> None:
    node = Node(tmp_path, _ctx(NodeGroup(shape="VM.GPU.A10.1")), "runtime")
    (node.overlay("/etc") / "yum.repos.d").mkdir()
    for name, body in stubs.items():
        node.stub(name, body)
    assert words in _one_line(node.run(PATH=node.without("docker", "nvidia-ctk")))


def test_ubuntu_apt_install_failing_is_one_line(tmp_path: Path) -> None:
    node = Node(tmp_path, _ctx(MI300X, "deepseek-ai/DeepSeek-R1-Distill-Llama-70B"), "runtime")
    node.overlay("/etc")
    node.stub("apt-get", '[ "${3:-}" = update ] && exit 0; exit 100')
    node.stub("mountpoint", "exit 1")
    line = _one_line(node.run(PATH=node.without("docker")))
    assert "apt-get could not install docker.io" in line


def test_docker_images_go_to_local_nvme_when_the_array_is_mounted(tmp_path: Path) -> None:
    node = Node(tmp_path, _ctx(H100), "runtime")
    etc = node.overlay("/etc")
    (etc / "yum.repos.d").mkdir()
    for name, body in {"curl": _CURL, "dnf": "exit 0", "nvidia-ctk": "exit 0",
                       "systemctl": "exit 0", "mountpoint": "exit 0"}.items():  # fmt: skip
        node.stub(name, body)
    root = tmp_path / "localdisk-docker"
    node.ctx = dataclasses.replace(
        node.ctx,
        paths=dataclasses.replace(node.ctx.paths, localdisk=str(tmp_path / "localdisk")),
    )
    node.script.write_text(
        environment()
        .get_template("scripts/runtime.sh.j2")
        .render(node.ctx.parts(step("runtime").reads))
    )
    r = node.run(PATH=node.without("docker", "nvidia-ctk"))
    assert r.returncode == 0, r.stderr + node.log("runtime.log")
    conf = json.loads((etc / "docker" / "daemon.json").read_text())
    assert conf["data-root"] == node.ctx.paths.docker_root
    assert root.parent.exists()


def test_a_torchrun_worker_without_its_head_is_one_line(tmp_path: Path) -> None:
    one = load_examples()["deepseek-v2-lite-megatron"]
    stack = one.model_copy(update={"nodes": one.nodes.model_copy(update={"count": 2})})
    plans = plan_nodes(stack, resolve(stack))
    worker = next(p.context for p in plans if p.context.torchrun and not p.context.node.is_head)
    node = Node(tmp_path, worker, "torchrun-env")
    assert "metadata key gpuform_head_ip is empty" in _one_line(node.run())


@pytest.mark.parametrize(
    ("smi", "words"),
    [
        ('echo "GPU[0] : Device ID: 0x74a1"; echo "GPU[1] : Device ID: 0x74a1"', "only 2 of 8 AMD"),
        ('echo "rocm-smi: amdgpu driver not loaded"; exit 2', "rocm-smi failed: rocm-smi: amdgpu"),
        ("", "no AMD GPU tools (rocm-smi not found)"),
    ],
    ids=["missing-gpus", "driver-not-loaded", "no-rocm-smi"],
)
def test_amd_gpus_are_counted_with_rocm_smi(tmp_path: Path, smi: str, words: str) -> None:
    node = Node(tmp_path, _ctx(MI300X, "deepseek-ai/DeepSeek-R1-Distill-Llama-70B"), "gpu-check")
    (node.overlay("/dev") / "kfd").write_text("")  # the amdgpu driver's device node, as a file
    path = node.without("rocm-smi")
    if smi:
        node.stub("rocm-smi", smi)
    assert words in _one_line(node.run(PATH=path))


def test_all_amd_gpus_visible(tmp_path: Path) -> None:
    node = Node(tmp_path, _ctx(MI300X, "deepseek-ai/DeepSeek-R1-Distill-Llama-70B"), "gpu-check")
    (node.overlay("/dev") / "kfd").write_text("")
    node.stub("rocm-smi", 'for i in 0 1 2 3 4 5 6 7; do echo "GPU[$i] : Device ID: 0x74a1"; done')
    r = node.run(PATH=node.without("rocm-smi"))
    assert r.returncode == 0 and r.stdout == "gpuform: 8 AMD GPUs visible\n", r.stderr


def test_a_hub_pull_caches_on_local_nvme_when_mounted(tmp_path: Path) -> None:
    ctx = _ctx(H100, "deepseek-ai/DeepSeek-R1-Distill-Llama-70B")
    assert ctx.weights is not None and ctx.weights.source == "hub"
    node = Node(tmp_path, ctx, "weights")
    assert node.ctx.weights is not None
    weights = dataclasses.replace(
        node.ctx.weights,
        log=str(tmp_path / "log" / "weights.log"), state=str(tmp_path / "state" / "v.json"),
    )  # fmt: skip
    paths = dataclasses.replace(
        node.ctx.paths, localdisk=str(tmp_path / "nvme"), lib=str(tmp_path / "lib")
    )
    node.ctx = dataclasses.replace(node.ctx, weights=weights, paths=paths)
    node.script.write_text(
        environment()
        .get_template("scripts/weights.sh.j2")
        .render(node.ctx.parts(step("weights").reads))
    )
    node.stub("mountpoint")  # the NVMe array is mounted
    node.stub("python3")  # the pull itself: tests/test_weights_pull.py
    r = node.run()
    assert r.returncode == 0, r.stderr
    (pull,) = [c for c in node.called() if c.startswith("python3 ")]
    dest = f"{tmp_path}/nvme/gpuform/cache/weights/{weights.key}"
    assert f"--dest {dest} " in pull
    assert "--hub deepseek-ai/DeepSeek-R1-Distill-Llama-70B --revision main" in pull
    assert os.readlink(weights.link) == dest


def test_the_engines_own_environment_reaches_its_container(tmp_path: Path) -> None:
    ctx = _ollama_ctx()
    assert ctx.engine is not None and ctx.engine.command.env
    node = Node(tmp_path, ctx, "engine", "engine-run")
    node.stub("docker")
    node.stub("mountpoint", "exit 1")
    r = node.run()
    assert r.returncode == 0, r.stderr
    assert "-e OLLAMA_KEEP_ALIVE=-1" in " ".join(_docker_run(node))


def test_ubuntu_without_netfilter_persistent_saves_with_iptables_save(tmp_path: Path) -> None:
    node = Node(tmp_path, _ctx(A10_UBUNTU), "firewall")
    etc = node.overlay("/etc")
    node.stub("iptables", '[ "$1" = -C ] && exit 1; exit 0')
    node.stub("iptables-save", 'echo "-A INPUT -s 10.0.0.0/16 -p tcp -j ACCEPT"')
    r = node.run(PATH=node.without("netfilter-persistent", "iptables", "iptables-save"))
    assert r.returncode == 0, r.stderr + node.log("firewall.log")
    assert "(saved to /etc/iptables/rules.v4)" in r.stdout
    assert (etc / "iptables" / "rules.v4").read_text().startswith("-A INPUT ")
