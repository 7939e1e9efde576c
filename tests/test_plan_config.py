"""`gpuform plan --config` refuses nonsense in one line and never hangs (issue 17)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from .conftest import run_cli
from .factories import LLAMA_1B_CONFIG

LLAMA_1B = LLAMA_1B_CONFIG


def _refused(args: list[str], says: str) -> None:
    # A hang (a FIFO with no writer, a loop over 10**12 layers) fails here, not after minutes.
    result = run_cli(["plan", *args], timeout=30)
    assert result.code == 2, result.stdout
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert says in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("num_key_value_heads", 0, "'num_key_value_heads' = 0: use a whole number from 1"),
        ("num_key_value_heads", 5, "'num_key_value_heads' = 5: must divide num_attention_heads"),
        ("num_hidden_layers", 0, "'num_hidden_layers' = 0: use a whole number from 1 to 10,000"),
        ("num_hidden_layers", 10**12, "'num_hidden_layers' = 1000000000000: use a whole number"),
        ("max_position_embeddings", 0, "'max_position_embeddings' = 0: use a whole number from 1"),
        ("vocab_size", 0, "'vocab_size' = 0: use a whole number from 1"),
        ("hidden_size", 16, "'hidden_size' = 16: smaller than num_attention_heads (32)"),
    ],
)
def test_a_config_with_an_impossible_field_is_refused(
    tmp_path: Path, field: str, value: int, says: str
) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**LLAMA_1B, field: value}))
    _refused(
        ["my-model", "--config", str(config)], f"--config '{config}': config.json field {says}"
    )


@pytest.mark.parametrize("field", ["max_position_embeddings", "vocab_size", "hidden_size"])
def test_infinity_is_refused_not_planned(tmp_path: Path, field: str) -> None:
    config = tmp_path / "config.json"
    text = json.dumps({**LLAMA_1B, field: 1})
    config.write_text(text.replace(f'"{field}": 1', f'"{field}": Infinity'))
    _refused(["my-model", "--config", str(config)], "Infinity is not a number; write a finite")


def test_deeply_nested_json_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text("[" * 100_000 + "]" * 100_000)
    _refused(["my-model", "--config", str(config)], "nests too deeply to be a config.json")


def test_a_device_or_fifo_is_refused_without_reading_or_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "config.json"
    os.mkfifo(fifo)
    for path in ("/dev/zero", str(fifo), str(tmp_path)):
        _refused(["my-model", "--config", path], f"--config '{path}': is not a regular file")


def test_an_ollama_tag_fixes_engine_and_precision() -> None:
    _refused(
        ["deepseek-r1:70b", "--engine", "sglang"],
        "--engine 'sglang': deepseek-r1:70b is an Ollama tag, which ollama serves; drop "
        "--engine, or plan deepseek-ai/DeepSeek-R1-Distill-Llama-70B for sglang",
    )
    _refused(
        ["deepseek-r1:70b", "--precision", "fp8"],
        "--precision 'fp8': the Ollama tag deepseek-r1:70b is Q4_K_M (int4); drop --precision",
    )
    agreed = run_cli(["plan", "deepseek-r1:70b", "--engine", "ollama", "--precision", "int4"])
    assert agreed.code == 0, agreed.stderr
