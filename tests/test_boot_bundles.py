"""Stage 0 refuses what it must, on a booted node (docs/bundles.md).

The harness serves every bundle from its Object Storage stand-in behind a PAR-shaped URL, as
Terraform uploads them (test_boot.py boots every example from its bundle). Here one node of
the smallest example boots twice more: once with its bundle's object one byte off, which must
be refused in one line and never unpacked, and once with its bundle URL pointing at an
address where no Object Storage answers, which must give one line after the bounded retries.
Either way the node stays down: no step of the bundle is installed or started.
"""

from __future__ import annotations

from functools import cache

import pytest

from infra.render.context import LimitsPart
from infra.render.stage0 import UNIT
from infra.stacks import load_examples
from tests.boot import can_boot, checks
from tests.boot.collect import NodeReport
from tests.boot.harness import Limits, boot_stack
from tests.boot.plan import STORE_PORT, store_address

pytestmark = pytest.mark.slow

_CANNOT = can_boot.why_not()
STACK = load_examples()["r1-distill-llama-8b"]
TRIES = LimitsPart().bundle_tries
#: Stage 0's retries take about 2.5 minutes before it gives up (8 tries, 5 to 30 s apart).
PATIENT = Limits(settle=300)


def _flip_one_byte(body: bytes) -> bytes:
    """The object's base64 text with one character changed, still valid base64."""
    middle = len(body) // 2
    swapped = b"B" if body[middle : middle + 1] != b"B" else b"C"
    return body[:middle] + swapped + body[middle + 1 :]


@cache
def _tampered() -> NodeReport:
    (r,) = boot_stack(STACK, tamper=_flip_one_byte)
    return r


@cache
def _unreachable() -> NodeReport:
    # The harness's private subnet, one address below its Object Storage stand-in: no host.
    nobody = store_address(STACK).ip - 1
    (r,) = boot_stack(STACK, store=f"http://{nobody}:{STORE_PORT}", limits=PATIENT)
    return r


def _refused(r: NodeReport) -> str:
    """Stage 0 failed with exactly one `gpuform:` line, which it returns, and the node is
    down: cloud-init itself finished cleanly, and no unit of the bundle exists."""
    assert not checks.cloud_init_clean(r), r.cloud_init_status
    unit = r.unit(UNIT)
    assert unit is not None and unit.active == "failed", unit
    ours = [line for line in unit.own_lines if line.startswith("gpuform: ")]
    assert len(ours) == 1, unit.own_lines
    steps = [u for u in r.units if u.name != UNIT]
    assert steps and all(u.load == "not-found" for u in steps), [(u.name, u.load) for u in steps]
    assert not any(p.startswith("/usr/local/lib/gpuform/") and p.endswith("node-env.sh")
                   for p in r.written)  # fmt: skip
    assert "/var/lib/gpuform/bundle.done" not in r.written
    return ours[0]


def test_a_bundle_one_byte_off_is_refused_in_one_line_and_never_unpacked() -> None:
    if _CANNOT:
        pytest.skip(_CANNOT)
    r = _tampered()
    line = _refused(r)
    sha = r.plan.bundle_sha256
    assert line.startswith(f"gpuform: bundle {sha} from Object Storage has sha256 "), line
    assert line.endswith("refusing to unpack it (not the bundle this user_data pins)"), line
    # Fetched once: a wrong bundle is not a transient failure.
    assert [q.rsplit(" ", 1)[1] for q in r.bundle_requests] == ["200"], r.bundle_requests


def test_an_unreachable_bucket_gives_one_line_after_the_retries() -> None:
    if _CANNOT:
        pytest.skip(_CANNOT)
    r = _unreachable()
    line = _refused(r)
    assert line.startswith(
        f"gpuform: cannot fetch bundle {r.plan.bundle_sha256} from Object Storage: "
        f"HTTP 000 after {TRIES} tries over "
    ), line
    assert r.bundle_requests == []
