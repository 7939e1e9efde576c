"""A booted node pulls its weights from a bucket on the private network (moto's S3 server on the
harness's bridge), and its engine unit starts only after every file is verified; a corrupted
object keeps the engine down with one `gpuform:` line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from infra.specs import Endpoint, Engine, Model, NodeGroup, StackSpec, WeightCache
from tests.boot import container as ct
from tests.boot import report
from tests.boot.collect import NodeReport
from tests.boot.harness import boot_stack
from tests.factories import deployment
from tests.test_boot import _CANNOT
from tests.weights.bridge import ENGINE_RECORD, WeightBucket
from tests.weights.data import model_dir

PREFIX = "deepseek-ai/DeepSeek-R1-Distill-Llama-8B"
ENGINE = "gpuform-engine.service"
WEIGHTS = "gpuform-weights.service"

STACK = StackSpec(
    deployment=deployment("weights-boot"),
    nodes=NodeGroup(shape="VM.GPU.A10.1"),
    model=Model(id=PREFIX),
    engine=Engine(kind="vllm", max_model_len=4096),
    endpoint=Endpoint(require_api_key=False),
    # A PAR: the harness hands the node the bucket's URL as Terraform would hand it the PAR's.
    weights=WeightCache(bucket="weights", par_expires=datetime(2099, 1, 1, tzinfo=UTC)),
)


def _boot(tmp_path: Path, corrupt: str | None) -> tuple[NodeReport, dict[str, str], WeightBucket]:
    if _CANNOT:
        pytest.skip(_CANNOT)
    src = model_dir(tmp_path / "model", files=30, big_mb=24)
    bucket = WeightBucket(STACK.deployment.private_subnet_cidr, src, PREFIX, corrupt=corrupt)
    seen: dict[str, str] = {}

    def look(nodes: dict[int, ct.Container]) -> None:
        c = nodes[0]
        for k, cmd in _LOOKS.items():
            seen[k] = ct.run(c, cmd, 30).stdout.strip()
        # Bytes in the cache, compared from inside the node.
        seen["sums"] = ct.run(
            c, ["sh", "-c", "cd /var/lib/gpuform/weights/ && find . -type f ! -name "
                "gpuform-manifest.json -exec sha256sum {} + | sort -k2"], 60,
        ).stdout  # fmt: skip

    (node,) = boot_stack(STACK, while_up=look, bridge=bucket)
    return node, seen, bucket


_LOOKS: dict[str, list[str]] = {
    "weights_done": ["systemctl", "show", "-P", "ActiveEnterTimestampMonotonic", WEIGHTS],
    "engine_start": ["systemctl", "show", "-P", "ExecMainStartTimestampMonotonic", ENGINE],
    "engine_record": ["cat", ENGINE_RECORD],
    "link": ["readlink", "-f", "/var/lib/gpuform/weights"],
}


def _sums(src: Path) -> str:
    import hashlib

    rows = [
        f"{hashlib.sha256(p.read_bytes()).hexdigest()}  ./{p.relative_to(src).as_posix()}"
        for p in src.rglob("*")
        if p.is_file()
    ]
    return "\n".join(sorted(rows, key=lambda r: r.split("  ", 1)[1])) + "\n"


@pytest.mark.slow
def test_the_engine_starts_after_the_pull_is_verified_and_serves_the_cache(
    tmp_path: Path,
) -> None:
    node, seen, _ = _boot(tmp_path, corrupt=None)
    why = report.render(node)
    weights = node.unit(WEIGHTS)
    assert weights is not None and weights.active == "active", why
    (line,) = weights.own_lines
    assert line.startswith("gpuform: weights: ") and "verified in " in line, why
    engine = node.unit(ENGINE)
    assert engine is not None and engine.active == "active", why
    assert int(seen["engine_start"]) > int(seen["weights_done"]) > 0, seen
    argv = seen["engine_record"].splitlines()
    assert f"{seen['link']}:/gpuform/weights:ro" in argv, argv
    assert argv[argv.index("serve") + 1] == "/gpuform/weights", argv
    assert seen["sums"] == _sums(tmp_path / "model"), "the cache differs from the pushed model"
    ready = node.unit("gpuform-ready.service")
    assert ready is not None and ready.active == "active", why


@pytest.mark.slow
def test_a_corrupted_object_keeps_the_engine_down_with_one_line(tmp_path: Path) -> None:
    node, seen, _ = _boot(tmp_path, corrupt="model-big.safetensors")
    why = report.render(node)
    weights = node.unit(WEIGHTS)
    assert weights is not None and weights.active == "failed", why
    (line,) = weights.own_lines
    assert line.startswith("gpuform: weights: model-big.safetensors failed verification: sha256"), (
        why
    )
    engine = node.unit(ENGINE)
    assert engine is not None and engine.active != "active" and not engine.own_lines, why
    assert any("Dependency failed" in ln for ln in engine.systemd_lines), why
    assert seen["engine_record"] == "" and seen["link"] == "/var/lib/gpuform/weights", seen
    # Nothing is served: the link is gone, and the bad file never got its final name.
    assert "model-big.safetensors" not in seen["sums"]
