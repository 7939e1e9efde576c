"""Real Ray across booted nodes: the Ray step's own script, a head and three workers.

On a real node `ray.sh` runs inside the trainer's (or engine's) image, started by ray-run.sh
through docker. The boot rootfs has no docker but has Ray from PyPI (tests/boot/rootfs.py), so
the test runs the node's rendered ray.sh itself, under systemd, in each booted container on the
harness's private bridge: pinned ports, the head's address from the node plan, and workers that
wait for a head started after them.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import pytest

from infra.specs import Model, NodeGroup, Training, TrainingStackSpec
from tests.boot import can_boot
from tests.boot import container as ct
from tests.boot.harness import boot_stack
from tests.boot.plan import addresses
from tests.factories import deployment

pytestmark = pytest.mark.slow

_CANNOT = can_boot.why_not()

NODES = 4
UNIT = "gpuform-ray-native"
RAY = "/usr/local/bin/ray"
JOIN_LIMIT_S = 120
STACK = TrainingStackSpec(
    deployment=deployment("ray-harness"),
    nodes=NodeGroup(shape="BM.GPU.H100.8", count=NODES),
    model=Model(id="deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"),
    training=Training(launcher="ray", image="rayproject/ray", tag="2.60.0-py311-gpu", task="lora"),
)


@dataclass
class Seen:
    """What the test saw while the nodes were up (assertions run after they are halted)."""

    started_before_head: list[int] = field(default_factory=list)
    alive_nodes: int = 0
    status: str = ""
    worker_listening: str = ""
    worker_journal: str = ""


def _run(c: ct.Container, *argv: str, timeout_s: float = 60) -> str:
    done = ct.run(c, list(argv), timeout_s)
    return done.stdout + done.stderr


def _start(c: ct.Container, ip: str, head_ip: str) -> None:
    # The node's own rendered script, with the values ray-run.sh passes into the container.
    _run(
        c, "systemd-run", f"--unit={UNIT}", "--setenv=PATH=/usr/local/bin:/usr/bin:/bin",
        f"--setenv=GPUFORM_NODE_IP={ip}", f"--setenv=GPUFORM_HEAD_IP={head_ip}",
        "/usr/local/lib/gpuform/ray.sh",
    )  # fmt: skip


def _alive(status: str) -> int:
    active = status.split("Active:", 1)[1].split("Pending:", 1)[0] if "Active:" in status else ""
    return len(re.findall(r"^\s*1 node_[0-9a-f]+", active, re.MULTILINE))


def _exercise(containers: dict[int, ct.Container], seen: Seen) -> None:
    ips = [str(a.ip) for a in addresses(STACK, NODES)]
    head = containers[0]
    for i in range(1, NODES):
        _start(containers[i], ips[i], ips[0])
    for i in range(1, NODES):
        state = _run(containers[i], "systemctl", "is-active", UNIT).strip()
        if state in ("active", "activating"):
            seen.started_before_head.append(i)
    _start(head, ips[0], ips[0])
    deadline = time.monotonic() + JOIN_LIMIT_S
    while time.monotonic() < deadline:
        seen.status = _run(head, RAY, "status", f"--address={ips[0]}:6379", timeout_s=60)
        seen.alive_nodes = _alive(seen.status)
        if seen.alive_nodes == NODES:
            break
        time.sleep(3)  # bounded poll: Ray gives no event to wait on from outside
    seen.worker_listening = _run(containers[1], "ss", "-ltnH")
    seen.worker_journal = _run(containers[1], "journalctl", "-u", UNIT, "--no-pager", "-n", "40")
    for c in containers.values():
        _run(c, "systemctl", "stop", UNIT, timeout_s=90)


@pytest.fixture(scope="module")
def seen() -> Seen:
    if _CANNOT:
        pytest.skip(_CANNOT)
    result = Seen()
    boot_stack(STACK, while_up=lambda containers: _exercise(containers, result))
    return result


def test_workers_started_before_the_head_and_every_node_joined(seen: Seen) -> None:
    assert seen.started_before_head == [1, 2, 3], seen.worker_journal
    assert seen.alive_nodes == NODES, (
        f"{seen.status}\n--- worker journal ---\n{seen.worker_journal}"
    )


def test_a_worker_listens_on_the_pinned_ports(seen: Seen) -> None:
    ports = {int(m) for m in re.findall(r":(\d+)\s", seen.worker_listening)}
    # node manager and object manager, as ray.sh pins them for the firewall to name.
    assert {6380, 6381} <= ports, seen.worker_listening
