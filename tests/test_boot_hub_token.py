"""A node whose hub repo needs a token boots under systemd: the token step runs before the
weights pull, which requires it, and both wait for the one OCI client step, which offline fails
in one line (tests/boot/checks.py)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import pytest

from infra.specs import StackSpec
from infra.stacks import load_examples
from tests.boot import can_boot, checks, report
from tests.boot.collect import NodeReport
from tests.boot.harness import boot_stack

pytestmark = pytest.mark.slow

_CANNOT = can_boot.why_not()


def _stack() -> StackSpec:
    spec = load_examples()["r1-distill-llama-8b"]
    assert isinstance(spec, StackSpec)
    return spec.model_copy(update={"model": spec.model.model_copy(update={"hub_token": True})})


@cache
def _booted() -> NodeReport:
    (node,) = boot_stack(_stack())
    return node


@pytest.mark.parametrize("check", checks.ALL, ids=lambda c: c.__name__)
def test_the_node_passes_every_boot_check(check: Callable[[NodeReport], list[str]]) -> None:
    if _CANNOT:
        pytest.skip(_CANNOT)
    r = _booted()
    problems = check(r)
    assert not problems, "\n".join(["", *problems, "", report.render(r)])


def test_the_weights_pull_waits_for_the_token_step() -> None:
    if _CANNOT:
        pytest.skip(_CANNOT)
    r = _booted()
    client = r.unit("gpuform-oci-client.service")
    token, weights = r.unit("gpuform-hub-token.service"), r.unit("gpuform-weights.service")
    assert client is not None and token is not None and weights is not None
    # Offline the OCI client cannot be installed, so neither step that needs it ever starts.
    assert client.active == "failed" and "internet" in client.own_lines[-1], client.own_lines
    for u in (token, weights):
        assert u.active != "active" and not u.own_lines, (u.name, u.own_lines)
        assert any("Dependency failed" in line for line in u.systemd_lines), u.name
