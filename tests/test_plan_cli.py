"""`gpuform plan`: the table, --json, one-line refusals, and speed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from infra.cli.plan import plan
from infra.sizing.catalog import catalog

from .factories import LLAMA_1B_CONFIG

app = typer.Typer()
app.command("plan")(plan)
app.command("noop")(lambda: None)  # two commands, so `plan` is a subcommand as in main.py
runner = CliRunner()

PLAN_KEYS = {
    "shape", "nodes", "gpus_per_node", "tp", "pp", "ep", "precision", "engine", "weights_gb",
    "kv_bytes_per_token", "gpu_memory_gb", "max_context", "usd_per_hour", "fits",
}  # fmt: skip


def _run(*args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, ["plan", *args])
    return r.exit_code, r.stdout, r.stderr


def test_table_marks_the_chosen_plan() -> None:
    code, out, _ = _run("deepseek-ai/DeepSeek-R1-Distill-Llama-8B")
    assert code == 0
    chosen = [line for line in out.splitlines() if "→" in line]
    assert len(chosen) == 1 and "VM.GPU.A10.1" in chosen[0]
    assert "chosen: DeepSeek-R1-Distill-Llama-8B bf16 on vllm" in out


def test_json_has_chosen_and_options() -> None:
    code, out, _ = _run("deepseek-ai/DeepSeek-R1", "--shape", "BM.GPU.H200.8", "--json")
    assert code == 0
    doc = json.loads(out)
    assert set(doc["chosen"]) >= PLAN_KEYS
    assert all(set(o) >= PLAN_KEYS for o in doc["options"])
    c = doc["chosen"]
    assert (c["shape"], c["nodes"], c["tp"], c["ep"], c["precision"]) == (
        "BM.GPU.H200.8",
        1,
        8,
        8,
        "fp8",
    )
    assert c["kv_bytes_per_token"] == 70_272 and c["fits"] is True
    assert c["usd_per_hour"] == 98.0


def test_tp_1_plans_one_gpu() -> None:
    code, out, _ = _run(
        "DeepSeek-R1-Distill-Qwen-7B", "--shape", "BM.GPU.H100.8", "--tp", "1", "--json"
    )
    assert code == 0
    assert json.loads(out)["chosen"]["tp"] == 1


def test_ollama_tag_plans_with_ollama_at_q4() -> None:
    code, out, _ = _run("deepseek-r1:70b", "--json")
    c = json.loads(out)["chosen"]
    assert code == 0 and (c["engine"], c["precision"]) == ("ollama", "int4")
    assert 42 < c["weights_gb"] < 44


def test_fine_tuning_tasks() -> None:
    for task in ("full", "lora", "qlora"):
        code, out, _ = _run("DeepSeek-R1-Distill-Llama-8B", "--task", task, "--json")
        assert code == 0, task
        assert json.loads(out)["chosen"]["fits"] is True


def test_local_config_plans_a_model_outside_the_catalog(tmp_path: Path) -> None:
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({**LLAMA_1B_CONFIG, "tie_word_embeddings": True}))
    code, out, _ = _run("my-1b", "--config", str(cfg), "--json")
    assert code == 0
    assert json.loads(out)["chosen"]["kv_bytes_per_token"] == 16 * 2 * 8 * 64 * 2


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["acme/Nope-7B"], "not in the catalog"),
        (["deepseek-ai/DeepSeek-R1", "--shape", "BM.GPU.X.8"], "not an OCI GPU shape"),
        (["deepseek-ai/DeepSeek-R1", "--precision", "fp4"], "use one of bf16"),
        (["deepseek-ai/DeepSeek-R1", "--engine", "llamacpp"], "use one of vllm"),
        (["x", "--config", "/nonexistent/config.json"], "cannot read"),
        (
            ["deepseek-ai/DeepSeek-R1", "--shape", "BM.GPU.H100.8", "--nodes", "1"],
            "673.0 GB of weights over 8 GPUs is 84.1 GB each, past the 76.5 GB the engine may "
            "use of 85.0 GB: use 2 nodes",
        ),
        (["qwen2.5-7b-instruct", "--context", "65536"], "at most 32768"),
        (
            ["deepseek-ai/DeepSeek-R1", "--shape", "BM.GPU.H100.8", "--nodes", "64"],
            "DeepSeek-R1 has 61 layers, so one pipeline spans at most 61 nodes",
        ),
        (["qwen2.5-7b-instruct", "--tp", "3", "--shape", "BM.GPU.H100.8"], "does not divide"),
    ],
)
def test_bad_input_and_impossible_plans_exit_2_in_one_line(args: list[str], text: str) -> None:
    code, out, err = _run(*args)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert text in err


def test_unreadable_config_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "config.json"
    bad.write_text("{not json")
    code, _, err = _run("x", "--config", str(bad))
    assert code == 2 and "is not JSON" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("model_id", sorted(catalog()))
def test_every_catalog_model_plans(model_id: str) -> None:
    # How fast it plans is bench/synth.py's to print, not a test's to assert.
    code, out, _ = _run(model_id, "--json")
    assert code == 0 and json.loads(out)["chosen"]["fits"]


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["deepseek-ai/DeepSeek-R1", "--shape", "BM.GPU.H100.8", "--nodes", "1"], "past the"),
        (
            ["DeepSeek-R1-Distill-Llama-8B", "--task", "lora", "--shape", "VM.GPU.A10.1"],
            "per GPU",
        ),
    ],
)
def test_refused_plan_with_json_still_prints_the_plan(args: list[str], reason: str) -> None:
    code, out, err = _run(*args, "--json")
    assert code == 2
    doc = json.loads(out)
    refused = doc["refused"]
    assert doc["chosen"] is None and refused["fits"] is False and reason in refused["reason"]
    assert set(refused) >= PLAN_KEYS and refused["shape"] == args[args.index("--shape") + 1]
    assert refused["gpu_memory_gb"] > 0 and all(o["fits"] is False for o in doc["options"])
    # The one-line error stays on stderr, the same line the JSON carries.
    assert len(err.strip().splitlines()) == 1 and doc["error"] in err.replace("\n", " ")
