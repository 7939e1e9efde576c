"""Every node role of every example stack boots for real: cloud-init under systemd.

Each stack's nodes boot together once (tests/boot/harness.py); the tests below check what the
boot showed, one check per test so a failure names exactly what went wrong. The full account
of a failing node (status, units, journal, files) is in the assertion message.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache

import pytest
from _pytest.mark import ParameterSet

from infra import node_metadata
from infra.stacks import load_examples
from tests.boot import can_boot, checks, report
from tests.boot.collect import NodeReport
from tests.boot.harness import boot_stack
from tests.boot.imds import lookup
from tests.boot.plan import NodePlan, plan_stack, representatives

_CANNOT = can_boot.why_not()

_EXAMPLES = load_examples()

#: Template defects these boots found, as (test, predicate over a node's plan, what is wrong).
#: Strict xfails: the test still runs and reports, and an XPASS once a fix lands says to
#: delete the entry. Owners: templates/ (not this harness).
_KNOWN_BUGS: list[tuple[str, Callable[[NodePlan], bool], str]] = []


def _nodes(test: str) -> list[ParameterSet]:
    params = []
    for name, spec in sorted(_EXAMPLES.items()):
        plans = plan_stack(spec)
        for plan in (p for p in plans if p.index in representatives(plans)):
            bugs = [why for t, applies, why in _KNOWN_BUGS if t == test and applies(plan)]
            marks = [pytest.mark.xfail(reason=" / ".join(bugs), strict=True)] if bugs else []
            params.append(
                pytest.param(name, plan.index, id=f"{name}/node{plan.index}", marks=marks)
            )
    return params


@cache
def _booted(name: str) -> tuple[NodeReport, ...]:
    # One boot per stack for all its tests: the head and workers come up together.
    spec = _EXAMPLES[name]
    return tuple(boot_stack(spec, only=representatives(plan_stack(spec))))


def _node(name: str, index: int) -> NodeReport:
    if _CANNOT:
        pytest.skip(_CANNOT)
    return next(r for r in _booted(name) if r.plan.index == index)


def _check(check: Callable[[NodeReport], list[str]], name: str, index: int) -> None:
    r = _node(name, index)
    problems = check(r)
    assert not problems, "\n".join(["", *problems, "", report.render(r)])


@pytest.mark.slow
@pytest.mark.parametrize(("name", "index"), _nodes("test_cloud_init_ends_without_errors"))
def test_cloud_init_ends_without_errors(name: str, index: int) -> None:
    _check(checks.cloud_init_clean, name, index)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "index"), _nodes("test_files_and_units_exist_and_are_enabled"))
def test_files_and_units_exist_and_are_enabled(name: str, index: int) -> None:
    _check(checks.files_and_units, name, index)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "index"), _nodes("test_steps_needing_no_hardware_or_internet_ran")
)
def test_steps_needing_no_hardware_or_internet_ran(name: str, index: int) -> None:
    _check(checks.offline_steps_ran, name, index)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "index"), _nodes("test_hardware_and_internet_steps_fail_with_one_clear_line")
)
def test_hardware_and_internet_steps_fail_with_one_clear_line(name: str, index: int) -> None:
    _check(checks.failures_are_clear, name, index)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "index"), _nodes("test_internet_steps_fail_for_lack_of_network"))
def test_internet_steps_fail_for_lack_of_network(name: str, index: int) -> None:
    _check(checks.online_steps_failed_for_lack_of_network, name, index)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "index"), _nodes("test_engine_does_not_restart_loop_silently"))
def test_engine_does_not_restart_loop_silently(name: str, index: int) -> None:
    _check(checks.engine_not_looping, name, index)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "index"), _nodes("test_node_reads_apply_time_values_from_imds"))
def test_node_reads_apply_time_values_from_imds(name: str, index: int) -> None:
    r = _node(name, index)
    read = [line for line in r.imds_requests if line.startswith("GET ")]
    assert read, f"the bootstrap never asked the IMDS stand-in\n{report.render(r)}"
    assert all(line.endswith(" 200") for line in read), "\n".join(read)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "index"), _nodes("test_container_halts_cleanly"))
def test_container_halts_cleanly(name: str, index: int) -> None:
    _check(checks.halted, name, index)


def test_imds_stand_in_serves_the_terraform_metadata_shape() -> None:
    """Fast: the document holds exactly the keys Terraform sets, served as IMDS v2 does."""
    stack = _EXAMPLES[sorted(_EXAMPLES)[0]]
    doc = plan_stack(stack)[0].document
    assert set(doc["metadata"]) == set(node_metadata.instance_metadata(
        stack="s", node_index=0, node_count=1, user_data_b64="",
        values=node_metadata.ApplyTimeValues("k", "s", "h"),
    ))  # fmt: skip
    status, ctype, body = lookup(doc, f"/opc/v2/instance/metadata/{node_metadata.STACK}")
    assert (status, ctype, body) == (200, "text/plain", stack.name)
    status, ctype, body = lookup(doc, "/opc/v2/instance/")
    assert status == 200 and ctype == "application/json"
    assert json.loads(body)["metadata"][node_metadata.NODE_INDEX] == "0"
    assert lookup(doc, "/opc/v2/instance/metadata/nope")[0] == 404
    assert lookup(doc, "/opc/v1/instance/")[0] == 404


@pytest.mark.slow
def test_a_two_node_pipeline_finds_its_head_on_the_private_network() -> None:
    """DeepSeek-R1 FP8 (673 GB) outgrows one BM.GPU.H100.8: one replica spans two nodes, a head
    that serves and a worker whose node.env holds the head's private IP from metadata."""
    head, worker = (_node("deepseek-r1-2x-h100", i) for i in (0, 1))
    assert (head.plan.role, worker.plan.role) == ("head", "worker of node 0")
    assert "exec ray start --head" in head.plan.files["/usr/local/lib/gpuform/ray.sh"]
    assert "ray health-check" in worker.plan.files["/usr/local/lib/gpuform/ray.sh"]
    env = worker.written.get("/etc/gpuform/node.env", "")
    assert f"{node_metadata.HEAD_IP.upper()}={head.plan.address.ip}" in env, env
