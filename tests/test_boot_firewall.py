"""The booted nodes' host firewall, as OCI's images have one: only what a node serves gets in.

The rootfs rejects every inbound TCP port but 22, like Canonical's Ubuntu images on OCI
(tests/boot/rootfs.py). Every node role of every example stack is probed from a peer on its
bridge (tests/boot/firewall.py), inside and outside the VCN. The last two tests break the
firewall on purpose, by dropping its step and by opening the wrong port, and show that the
harness then fails.
"""

from __future__ import annotations

import dataclasses

import pytest

from infra.render import steps
from infra.render.context import NodeContext, build_context
from infra.specs import StackSpec
from tests.boot import checks, report
from tests.boot.collect import NodeReport
from tests.boot.harness import boot_stack
from tests.test_boot import _CANNOT, _EXAMPLES, _check, _nodes

#: The smallest example, one node: what the broken-firewall boots use.
SMALL = "r1-distill-llama-8b"


@pytest.mark.slow
@pytest.mark.parametrize(("name", "index"), _nodes("test_firewall_admits_exactly_the_served_ports"))
def test_firewall_admits_exactly_the_served_ports(name: str, index: int) -> None:
    _check(checks.firewall_admits_exactly_the_served_ports, name, index)


def _boot_small() -> list[NodeReport]:
    if _CANNOT:
        pytest.skip(_CANNOT)
    spec = _EXAMPLES[SMALL]
    assert isinstance(spec, StackSpec)
    return boot_stack(spec)


def _says(problems: list[str], *words: str) -> bool:
    return any(all(w in p for w in words) for p in problems)


@pytest.mark.slow
def test_harness_fails_when_the_firewall_step_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(steps, "STEPS", tuple(s for s in steps.STEPS if s.name != "firewall"))
    (node,) = _boot_small()
    assert "gpuform-firewall.service" not in node.plan.steps
    problems = checks.firewall_admits_exactly_the_served_ports(node)
    text = "\n".join([*problems, report.render(node)])
    # The image's REJECT answers the load balancer on the engine's port.
    assert _says(problems, "TCP 8000 from 10.", "is rejected, but the node serves it"), text
    assert _says(problems, "TCP 8000 is not saved to /etc/iptables/rules.v4"), text


@pytest.mark.slow
def test_harness_fails_when_the_firewall_opens_the_wrong_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    build = build_context  # what infra.node_plan builds each node's context with

    def off_by_one(*args: object, **kw: object) -> NodeContext:
        ctx = build(*args, **kw)  # type: ignore[arg-type]
        assert ctx.firewall is not None
        wrong = tuple(p + 1 for p in ctx.firewall.tcp_ports)
        return dataclasses.replace(ctx, firewall=dataclasses.replace(ctx.firewall, tcp_ports=wrong))

    monkeypatch.setattr("infra.node_plan.build_context", off_by_one)
    monkeypatch.setattr("tests.boot.firewall.UNSERVED_CANDIDATES", (8001, 9999))
    (node,) = _boot_small()
    assert "ports=(8001)" in node.plan.files["/usr/local/lib/gpuform/firewall.sh"]
    problems = checks.firewall_admits_exactly_the_served_ports(node)
    text = "\n".join([*problems, report.render(node)])
    assert _says(problems, "TCP 8000 from 10.", "is rejected, but the node serves it"), text
    assert _says(problems, "TCP 8001 from 10.", "is open; nothing should reach it"), text
