"""wait and status, written against the Transport interface, driven by a fake transport."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console

from infra.ops import cloud, endpoint, views
from infra.ops.inventory import Inventory
from infra.ops.status import gather
from infra.ops.wait import Poll, wait
from tests.ops import sample
from tests.ops.fake import FakeNode, FakeTransport, FakeUnit, active, failed, starting


class FakeClock:
    """time.monotonic and time.sleep for wait(): sleeping moves the clock, nothing else does."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _fresh(inv: Inventory) -> dict[int, FakeNode]:
    return {
        n.index: FakeNode({u: FakeUnit() for u in ("gpuform.target", *n.steps)}, ray_active=0)
        for n in inv.nodes
    }


def _one_step_per_poll(index: int, node: FakeNode) -> None:
    """Each probe finds the next step done; the Ray head sees one more node per poll."""
    pending = [u for u, s in node.units.items() if s.active != "active"]
    if pending:
        node.units[pending[0]] = active()
    elif node.ray_active is not None:
        node.ray_active += 1


@pytest.fixture
def models_url() -> Iterator[str]:
    """An OpenAI-style /v1/models on loopback."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"data": [{"id": "deepseek-ai/DeepSeek-R1"}]}).encode()
            code = 200 if self.path == "/v1/models" else 404
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_wait_follows_steps_and_ray_until_the_endpoint_answers(models_url: str) -> None:
    inv = sample.inventory().model_copy(update={"endpoint_url": models_url})
    t = FakeTransport(inv, _fresh(inv))
    t.advance = _one_step_per_poll
    clock, polls = FakeClock(), list[Poll]()
    outcome = wait(
        t, inv, timeout_s=600, interval_s=5, on_poll=polls.append, clock=clock, sleep=clock.sleep
    )
    assert outcome.ready and not outcome.timed_out and outcome.last.gaps == []
    # Heads have 6 units (target + 5 steps) and a Ray cluster of 2 to fill: 8 polls.
    assert len(polls) == 8 and clock.slept == [5.0] * 7
    assert outcome.last.endpoint is not None
    assert outcome.last.endpoint.detail == "answers 200: deepseek-ai/DeepSeek-R1"
    assert [p.endpoint is None for p in polls] == [True] * 7 + [False]


def test_wait_times_out_with_a_report_per_node_and_step() -> None:
    inv = sample.inventory(ray=False)
    nodes = _fresh(inv)
    t = FakeTransport(inv, nodes)

    def stuck(index: int, node: FakeNode) -> None:
        # Everything comes up except node 2's engine, which never leaves "activating".
        for unit in node.units:
            stays = index == 2 and unit in ("gpuform-engine.service", "gpuform-ready.service")
            node.units[unit] = starting("gpuform: loading weights") if stays else active()

    t.advance = stuck
    clock = FakeClock()
    outcome = wait(t, inv, timeout_s=60, interval_s=10, clock=clock, sleep=clock.sleep)
    assert not outcome.ready and outcome.timed_out
    assert sum(clock.slept) == 60 and t.calls[2] == 7
    assert views.gap_report(outcome, 60) == [
        "not ready after 60s; still missing:",
        "  r1-h100-node-2:",
        "    gpuform-engine.service: activating (start): gpuform: loading weights",
        "    gpuform-ready.service: activating (start): gpuform: loading weights",
    ]


def test_wait_stops_at_a_step_that_failed_for_good_unless_told_to_keep_going() -> None:
    inv = sample.inventory(ray=False)
    nodes = _fresh(inv)
    for node in nodes.values():
        node.units = {u: active() for u in node.units}
    nodes[1].units["gpuform-gpu-check.service"] = failed("gpuform: no NVIDIA GPU (nvidia-smi -L)")
    clock = FakeClock()
    t = FakeTransport(inv, nodes)
    outcome = wait(t, inv, timeout_s=600, clock=clock, sleep=clock.sleep)
    assert not outcome.ready and not outcome.timed_out and clock.slept == []
    report = views.gap_report(outcome, 600)
    assert report[0] == "a step failed for good after 0s; still missing:"
    assert report[1:] == [
        "  r1-h100-node-1:",
        "    gpuform-gpu-check.service: failed: gpuform: no NVIDIA GPU (nvidia-smi -L)",
    ]
    kept = wait(
        t, inv, timeout_s=30, interval_s=10, fail_fast=False, clock=clock, sleep=clock.sleep
    )
    assert kept.timed_out


def test_unreachable_nodes_are_waited_for_then_reported() -> None:
    inv = sample.inventory(nodes=2, ray=False)
    nodes = _fresh(inv)
    nodes[0].unreachable = "bastion 203.0.113.7: no answer (timed out)"
    clock = FakeClock()
    outcome = wait(
        FakeTransport(inv, nodes), inv, timeout_s=20, interval_s=10, check_endpoint=False,
        clock=clock, sleep=clock.sleep,
    )  # fmt: skip
    assert outcome.timed_out
    assert "    ssh: unreachable: bastion 203.0.113.7: no answer (timed out)" in views.gap_report(
        outcome, 20
    )


def test_status_table_shows_roles_gpus_steps_reasons_and_endpoint(
    monkeypatch: pytest.MonkeyPatch, models_url: str
) -> None:
    monkeypatch.setenv("OCI_CONFIG_FILE", "/nonexistent/oci/config")
    inv = sample.inventory().model_copy(update={"endpoint_url": models_url})
    nodes = _fresh(inv)
    for node in nodes.values():
        node.units = {u: active() for u in node.units}
    nodes[0].ray_active = 2
    nodes[1].units["gpuform-gpu-check.service"] = failed("gpuform: no NVIDIA GPU")
    nodes[1].gpus = "nvidia-smi 0\nNVIDIA-SMI has failed"
    nodes[3].unreachable = "timed out after 20s"
    report = gather(FakeTransport(inv, nodes), inv)
    console = Console(width=200, record=True, color_system=None)
    console.print(views.status_table(report))
    table = console.export_text()
    header = [cell.strip() for cell in table.splitlines()[0].split("┃")]
    assert header == [
        "node", "role", "private ip", "instance", "ssh", "GPUs",
        "node-env", "runtime", "gpu-check", "engine", "ready",
    ]  # fmt: skip
    row1 = next(line for line in table.splitlines() if "r1-h100-node-1" in line)
    assert "worker r0" in row1 and "0 (nvidia-smi: NVIDIA-SMI has failed)" in row1
    assert "failed" in row1
    assert "unreachable" in next(line for line in table.splitlines() if "node-3" in line)
    notes = views.status_notes(report)
    assert "r1-h100-node-1: gpu-check failed: gpuform: no NVIDIA GPU" in notes
    assert "r1-h100-node-0: ray: 2/2 nodes joined" in notes
    assert f"endpoint {models_url}/models: answers 200: deepseek-ai/DeepSeek-R1" in notes
    assert "instance state: no OCI credentials" in notes


def test_endpoint_without_the_api_key_still_counts_as_answering(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Locked(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(401 if "Authorization" not in self.headers else 200)
            self.send_header("Content-Length", "11")
            self.end_headers()
            self.wfile.write(b'{"data":[]}')

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Locked)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        monkeypatch.delenv(endpoint.API_KEY_ENV, raising=False)
        state = endpoint.check(url)
        assert state.ok and state.detail == "answers 401; set GPUFORM_API_KEY to list models"
        monkeypatch.setenv(endpoint.API_KEY_ENV, "sk-test")
        assert endpoint.check(url).detail == "answers 200: (no models listed)"
    finally:
        server.shutdown()
        server.server_close()
    gone = endpoint.check(url, timeout_s=2)
    assert not gone.ok and gone.detail.startswith("no answer: ")


def test_progress_view_lists_every_node() -> None:
    inv = sample.inventory(nodes=2)
    t = FakeTransport(inv, _fresh(inv))
    clock = FakeClock()
    polls: list[Poll] = []
    wait(t, inv, timeout_s=1, on_poll=polls.append, clock=clock, sleep=clock.sleep)
    console = Console(width=120, record=True, color_system=None)
    console.print(views.progress_table(inv, polls[-1], 1))
    text = console.export_text()
    assert "waiting for r1-h100" in text
    assert "0/5 steps, node-env inactive (dead); ray: 0/2 nodes joined" in text
    assert "0/4 steps, node-env inactive (dead)" in text


def test_instance_state_from_oci_when_credentials_exist(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "oci_config"
    monkeypatch.setenv("OCI_CONFIG_FILE", str(config))
    with_ids = sample.outputs(nodes=2)
    for i, node in enumerate(with_ids["nodes"]["value"]):
        node["instance_id"] = f"ocid1.instance.oc1.iad.node{i}"
    inv = Inventory.from_outputs(sample.STACK, with_ids)
    assert cloud.instance_states(inv).note == "no OCI credentials"
    config.write_text("[DEFAULT]\nuser=ocid1.user.oc1..x\n")
    note = cloud.instance_states(inv).note
    assert note.startswith(f"OCI config {config} [DEFAULT]: ") and "\n" not in note

    class Client:
        def get_instance(self, ocid: str) -> SimpleNamespace:
            if ocid.endswith("node1"):
                raise RuntimeError("NotAuthorizedOrNotFound")
            return SimpleNamespace(data=SimpleNamespace(lifecycle_state="RUNNING"))

    monkeypatch.setattr(cloud, "_client", lambda *_: Client())
    assert cloud.instance_states(inv).states == {0: "RUNNING", 1: "? (RuntimeError)"}
    no_ids = sample.inventory(nodes=2)
    assert cloud.instance_states(no_ids).note == "the stack's outputs carry no instance ids"
