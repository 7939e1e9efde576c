"""node-env.sh run for real against a local stand-in for IMDS v2."""

from __future__ import annotations

import dataclasses
import http.server
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra import node_metadata
from infra.engines import Topology
from infra.render.context import build_context
from infra.render.jinja import environment
from infra.render.steps import step
from infra.sizing.settings import StackSizes
from infra.specs import Engine, Model, NodeGroup, StackSpec

from .factories import deployment

STACK = StackSpec(
    deployment=deployment("tst"),
    nodes=NodeGroup(shape="VM.GPU.A10.1"),
    model=Model(id="deepseek-ai/DeepSeek-R1-Distill-Llama-8B"),
    engine=Engine(kind="vllm"),
)

SETTINGS = StackSizes(Topology(tp=1, pp=1, nodes_per_replica=1, gpus_per_node=1), 4096, None)
METADATA = {
    "gpuform_stack": "tst",
    "gpuform_node_index": "0",
    "gpuform_node_count": "1",
    "gpuform_api_key_secret_id": "ocid1.vaultsecret.oc1.iad.abc",
}


class _Imds(http.server.BaseHTTPRequestHandler):
    values: dict[str, str] = METADATA

    def do_GET(self) -> None:
        key = self.path.rsplit("/", 1)[-1]
        if self.headers.get("Authorization") != "Bearer Oracle":
            self.send_response(401)
            self.end_headers()
        elif key in self.values:
            body = self.values[key].encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_response(404)
            self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def imds() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Imds)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/opc/v2/instance/metadata"
    server.shutdown()


def _run(tmp_path: Path, url: str, timeout_s: int) -> subprocess.CompletedProcess[str]:
    base = build_context(STACK, 0, SETTINGS)
    ctx = dataclasses.replace(
        base,
        paths=dataclasses.replace(base.paths, imds_url=url, etc=str(tmp_path / "etc")),
        limits=dataclasses.replace(base.limits, imds_timeout_s=timeout_s),
    )
    script = tmp_path / "node-env.sh"
    # Rendered with exactly the parts the step registry says node-env reads.
    parts = ctx.parts(step("node-env").reads)
    script.write_text(environment().get_template("scripts/node-env.sh.j2").render(parts))
    return subprocess.run(["/bin/bash", str(script)], capture_output=True, text=True, timeout=60)


def test_node_env_holds_every_key_and_empty_optional_ones(tmp_path: Path, imds: str) -> None:
    result = _run(tmp_path, imds, 10)
    assert result.returncode == 0, result.stderr
    # Every key the bootstrap reads, in order; those unset in metadata (404) are empty.
    assert (tmp_path / "etc" / "node.env").read_text().splitlines() == [
        f"{key.upper()}={METADATA.get(key, '')}" for key in node_metadata.BOOT_KEYS
    ]
    assert "GPUFORM_HEAD_IP=" in (tmp_path / "etc" / "node.env").read_text().splitlines()


def test_unreachable_imds_fails_with_one_line_within_its_bound(tmp_path: Path) -> None:
    # Nothing listens on port 9 of localhost: connection refused, retried for 2 s at most.
    result = _run(tmp_path, "http://127.0.0.1:9/opc/v2/instance/metadata", 2)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("gpuform: instance metadata unreachable or key gpuform_stack")
    assert not (tmp_path / "etc" / "node.env").exists()


def test_odd_characters_in_metadata_are_refused(
    tmp_path: Path, imds: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_Imds, "values", {**METADATA, "gpuform_head_ip": "10.0.0.2; rm -rf /"})
    result = _run(tmp_path, imds, 10)
    assert result.returncode == 1
    assert "gpuform_head_ip holds unexpected characters" in result.stderr


def test_a_cluster_network_nodes_roster_values_win_over_the_pools_empty_metadata(
    tmp_path: Path, imds: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A pool's metadata is the same on every node: no index, no head. The roster step wrote
    # what the roster says, and node-env (re-run at every boot) must keep it.
    pool = {**METADATA, "gpuform_node_index": "", "gpuform_head_ip": ""}
    monkeypatch.setattr(_Imds, "values", pool)
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "roster.env").write_text(
        "GPUFORM_NODE_INDEX=7\nGPUFORM_HEAD_IP=10.0.16.10\n"
    )
    result = _run(tmp_path, imds, 10)
    assert result.returncode == 0, result.stderr
    lines = (tmp_path / "etc" / "node.env").read_text().splitlines()
    assert "GPUFORM_NODE_INDEX=7" in lines and "GPUFORM_HEAD_IP=10.0.16.10" in lines
    assert "GPUFORM_NODE_INDEX=" not in lines and "GPUFORM_HEAD_IP=" not in lines
    assert f"GPUFORM_STACK={METADATA['gpuform_stack']}" in lines
