"""`gpuform plan --optimizer` and `--gpus N` (issue 20): a fine-tune on part of a node."""

from __future__ import annotations

import json
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from infra.catalog.shapes import get_shape
from infra.cli.plan import plan
from infra.errors import UserError
from infra.sizing.catalog import lookup
from infra.sizing.finetune import GPU_USABLE, gpu_bytes, train_memory
from infra.sizing.optimizers import OPTIMIZERS
from infra.sizing.params import count
from infra.sizing.planner import Request
from infra.sizing.planner import plan as run_plan
from infra.sizing.settings import resolve_training
from infra.specs import Deployment, Model, NodeGroup
from infra.specs.training import Training, TrainingStackSpec

app = typer.Typer()
app.command("plan")(plan)
app.command("noop")(lambda: None)
runner = CliRunner()

Q7 = "DeepSeek-R1-Distill-Qwen-7B"
H200 = "BM.GPU.H200.8"


def _run(*args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, ["plan", *args])
    return r.exit_code, r.stdout, r.stderr


def _per_gpu(model: str, optimizer: Any, seq: int, batch: int, gpus: int) -> int:
    a = lookup(model).model.arch
    return gpu_bytes(a, train_memory(count(a), "full", a, optimizer), seq, batch, gpus)


def test_gpus_1_reports_memory_per_gpu_and_the_optimizer() -> None:
    args = ["--task", "full", "--shape", H200, "--gpus", "1", "--context", "2048"]
    code, out, _ = _run("DeepSeek-R1-Distill-Qwen-1.5B", *args, "--json")
    assert code == 0
    c = json.loads(out)["chosen"]
    assert (c["gpus"], c["nodes"], c["optimizer"], c["fits"]) == (1, 1, "adamw-fused", True)
    per_gpu = _per_gpu("DeepSeek-R1-Distill-Qwen-1.5B", "adamw-fused", 2048, 1, 1)
    assert c["gpu_memory_gb"] == round(per_gpu / 1e9, 1)
    code, out, _ = _run("DeepSeek-R1-Distill-Qwen-1.5B", *args)
    assert code == 0 and "with AdamW (fused)" in out and "(1 GPU of its 8)" in out
    assert "need GB per GPU" in out


def test_without_gpus_the_plan_spans_the_node_and_totals_its_memory() -> None:
    code, out, _ = _run(Q7, "--task", "full", "--shape", H200, "--json")
    c = json.loads(out)["chosen"]
    assert code == 0 and c["gpus"] == 8
    assert c["gpu_memory_gb"] == round(8 * _per_gpu(Q7, "adamw-fused", 4096, 1, 8) / 1e9, 1)


def test_each_optimizer_changes_what_one_gpu_needs() -> None:
    need = {o: _per_gpu(Q7, o, 4096, 1, 1) for o in OPTIMIZERS}
    p = count(lookup(Q7).model.arch).total
    # foreach's step holds a fourth fp32 copy; 8-bit moments are 2 bytes, not 8.
    assert need["adamw-foreach"] - need["adamw-fused"] >= 3.5 * p
    assert need["adamw-fused"] - need["adamw-8bit"] >= 5.5 * p


def test_foreach_adam_is_not_offloaded_behind_the_users_back() -> None:
    # A plain PyTorch loop has no ZeRO-Offload: a foreach plan that does not fit is refused.
    r = run_plan(Request(lookup(Q7), task="full", shape=H200, gpus=1, optimizer="adamw-foreach"))
    assert r.chosen is None and not r.options[0].offload
    fused = run_plan(Request(lookup(Q7), task="full", shape=H200, gpus=1, context=32768))
    assert fused.options[0].optimizer == "adamw-fused"


def test_refused_gpus_plan_prints_its_per_gpu_figures() -> None:
    args = ["--task", "full", "--shape", H200, "--gpus", "1", "--optimizer", "adamw-foreach"]
    code, out, err = _run(Q7, *args, "--json")
    assert code == 2
    doc = json.loads(out)
    refused = doc["refused"]
    assert doc["chosen"] is None and refused["gpus"] == 1 and refused["fits"] is False
    assert refused["optimizer"] == "adamw-foreach"
    assert refused["gpu_memory_gb"] * 1e9 > GPU_USABLE * get_shape(H200).gpu_memory_bytes
    assert "per GPU over 1 GPU with AdamW (foreach)" in refused["reason"]
    # The one line names the way out: more GPUs of the same node.
    assert len(err.strip().splitlines()) == 1 and "use --gpus 2" in err


@pytest.mark.parametrize(
    ("args", "text"),
    [
        ([Q7, "--gpus", "1"], "--gpus = 1: applies to fine-tuning"),
        ([Q7, "--optimizer", "adamw-8bit"], "--optimizer = 'adamw-8bit': applies to fine-tuning"),
        ([Q7, "--task", "full", "--optimizer", "sgd"], "--optimizer 'sgd': use one of adamw-fused"),
        ([Q7, "--task", "full", "--shape", H200, "--gpus", "9"], "has 8 GPUs per node; use 1 to 8"),
        ([Q7, "--task", "full", "--gpus", "2", "--nodes", "2"], "plans GPUs of one node"),
    ],
)
def test_bad_optimizer_or_gpus_is_one_line_exit_2(args: list[str], text: str) -> None:
    code, out, err = _run(*args)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert text in err


def test_gpus_skips_shapes_with_fewer_gpus() -> None:
    r = run_plan(Request(lookup("DeepSeek-R1-Distill-Qwen-1.5B"), task="lora", gpus=2))
    a10 = next(o for o in r.options if o.shape == "VM.GPU.A10.1")
    assert not a10.fits and "fewer than --gpus 2" in a10.reason
    assert r.chosen is not None and r.chosen.gpus == 2


def _training_stack(optimizer: str) -> TrainingStackSpec:
    return TrainingStackSpec(
        deployment=Deployment(
            name="opt-test",
            region="us-ashburn-1",
            ssh_allowed_cidrs=["198.51.100.0/24"],
            api_allowed_cidrs=["198.51.100.0/24"],
        ),
        nodes=NodeGroup(shape="VM.GPU.A10.1", count=1),
        model=Model(id="deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"),
        training=Training(
            launcher="torchrun", image="nvcr.io/nvidia/pytorch", tag="25.01-py3",
            task="full", seq_len=4096, optimizer=optimizer,
        ),
    )  # fmt: skip


def test_a_training_stack_is_planned_with_its_optimizer() -> None:
    # 1.5B full on one A10 (24 GB) needs 28 GB of states: with fused Adam the plan moves the
    # states to host memory (DeepSpeed's CPU Adam); a foreach loop cannot, so it is refused.
    resolve_training(_training_stack("adamw-fused"))
    fused = run_plan(
        Request(lookup("DeepSeek-R1-Distill-Qwen-1.5B"), task="full", shape="VM.GPU.A10.1")
    )
    assert fused.chosen is not None and fused.chosen.offload
    with pytest.raises(UserError) as err:
        resolve_training(_training_stack("adamw-foreach"))
    assert err.value.field == "nodes.count" and "AdamW (foreach)" in str(err.value)


def test_a_serving_plan_names_its_gpus_and_no_optimizer() -> None:
    code, out, _ = _run("deepseek-r1:70b", "--shape", "BM.GPU.H100.8", "--json")
    c = json.loads(out)["chosen"]
    # Ollama's Q4_K_M fits one GPU of the node: the plan uses 1 of 8.
    assert code == 0 and (c["gpus"], c["tp"], c["optimizer"]) == (1, 1, None)
