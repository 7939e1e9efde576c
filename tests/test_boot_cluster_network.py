"""A cluster network's nodes boot one shared stage 0, find themselves in the roster and fetch
their own kind's bundle.

Three nodes of a torchrun cluster boot the same gzip user_data and the same metadata, as an
instance configuration gives them. The harness plays Terraform: the bundles are in its Object
Storage stand-in from the start, and it serves the roster behind a PAR-shaped URL only after
every node has asked for it and been told 404. Node 2's roster line is stale (the address of a
node OCI replaced), which it must refuse in one line without fetching or installing anything.
The example RL stack (16 nodes, Ray) boots the same way in test_boot.py.
"""

from __future__ import annotations

from functools import cache

import pytest

from infra.render.stage0 import UNIT as ROSTER_UNIT
from infra.specs import Model, NodeGroup, Training, TrainingStackSpec
from tests.boot import can_boot, checks, report
from tests.boot.collect import NodeReport
from tests.boot.harness import boot_stack
from tests.boot.plan import plan_stack
from tests.factories import deployment

pytestmark = pytest.mark.slow

_CANNOT = can_boot.why_not()

STACK = TrainingStackSpec(
    deployment=deployment("pool-harness"),
    nodes=NodeGroup(shape="BM.GPU.H100.8", count=3, placement="cluster_network"),
    model=Model(id="deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"),
    training=Training(
        launcher="torchrun", image="nvcr.io/nvidia/pytorch", tag="25.04-py3", task="lora"
    ),
)

STALE = 2


def _stale(roster: str) -> str:
    """Node 2's line with node 1's address: the roster from before OCI replaced an instance."""
    lines = [line.split() for line in roster.splitlines()]
    lines[STALE][2] = lines[1][2]
    return "".join(" ".join(parts) + "\n" for parts in lines)


@cache
def _booted() -> dict[int, NodeReport]:
    return {r.plan.index: r for r in boot_stack(STACK, roster=_stale)}


def _node(index: int) -> NodeReport:
    if _CANNOT:
        pytest.skip(_CANNOT)
    return _booted()[index]


def test_every_node_boots_the_same_user_data_and_metadata() -> None:
    plans = plan_stack(STACK)
    assert len({p.user_data for p in plans}) == 1
    assert len({str(p.document["metadata"]) for p in plans}) == 1
    assert {p.document["metadata"]["gpuform_node_index"] for p in plans} == {""}


@pytest.mark.parametrize("index", [0, 1])
def test_a_listed_node_passes_every_boot_check(index: int) -> None:
    r = _node(index)
    problems = [p for check in checks.ALL for p in check(r)]
    assert not problems, "\n".join(["", *problems, "", report.render(r)])


@pytest.mark.parametrize("index", [0, 1, 2])
def test_each_node_waited_for_the_roster_terraform_writes_last(index: int) -> None:
    r = _node(index)
    statuses = [line.rsplit(" ", 1)[1] for line in r.roster_requests]
    assert statuses[0] == "404" and statuses[-1] == "200", r.roster_requests
    unit = r.unit(ROSTER_UNIT)
    assert unit is not None
    assert any("waiting for the roster" in line for line in unit.own_lines), unit.own_lines


@pytest.mark.parametrize("index", [0, 1])
def test_each_node_fetched_its_own_kinds_bundle_once(index: int) -> None:
    r = _node(index)
    # Every node's metadata names all three kinds' bundles (ranks differ); it took its own.
    assert len(r.plan.objects) == 3 and _node(0).plan.bundle_sha256 != _node(1).plan.bundle_sha256
    (own,) = [path for path, _ in r.plan.objects if r.plan.bundle_sha256 in path]
    assert r.bundle_requests == [f"GET {own} 200"]
    assert r.written["/var/lib/gpuform/bundle.done"] == f"{r.plan.bundle_sha256}\n"


def test_the_worker_takes_its_index_and_head_from_the_roster() -> None:
    head, worker = _node(0), _node(1)
    env = worker.written["/etc/gpuform/node.env"].splitlines()
    assert "GPUFORM_NODE_INDEX=1" in env
    assert f"GPUFORM_HEAD_IP={head.plan.address.ip}" in env
    # torchrun's rendezvous: the master is the head's primary VNIC address, on both nodes.
    for r, rank in ((head, 0), (worker, 1)):
        torchrun = r.written["/etc/gpuform/torchrun.env"].splitlines()
        assert f"MASTER_ADDR={head.plan.address.ip}" in torchrun, torchrun
        assert (
            f"NODE_RANK={rank}" in torchrun and f"GPUFORM_NODE_IP={r.plan.address.ip}" in torchrun
        )


def test_a_stale_roster_line_is_refused_in_one_line_and_installs_nothing() -> None:
    r = _node(STALE)
    unit = r.unit(ROSTER_UNIT)
    assert unit is not None and unit.active == "failed"
    ours = [line for line in unit.own_lines if line.startswith("gpuform: ")]
    assert ours[-1] == (
        f"gpuform: the roster gives this instance the IP {_node(1).plan.address.ip} but its "
        f"own is {r.plan.address.ip}; the roster is stale: run terraform apply"
    )
    node_units = [u for u in r.units if u.name != ROSTER_UNIT]
    assert node_units and all(u.load == "not-found" for u in node_units), [
        (u.name, u.load) for u in node_units
    ]
    assert "/etc/gpuform/roster.env" not in r.written
    assert r.bundle_requests == []
