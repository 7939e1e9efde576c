"""Parameter counts from architecture against the published counts; weight bytes; KV bytes."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import pytest

from infra.engines import driver
from infra.sizing.catalog import catalog, lookup
from infra.sizing.memory import kv_bytes_per_token, kv_bytes_per_token_per_gpu, weight_bytes
from infra.sizing.params import count

from .conftest import REPO

MODELS = sorted(catalog())


def test_catalog_holds_every_model_the_issue_names() -> None:
    expected = {
        "deepseek-ai/DeepSeek-R1",
        "deepseek-ai/DeepSeek-V3",
        "deepseek-ai/DeepSeek-V2",
        "deepseek-ai/DeepSeek-V2-Lite",
        "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B",
        "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B",
        "deepseek-ai/DeepSeek-R1-Distill-Qwen-14B",
        "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B",
        "deepseek-ai/DeepSeek-R1-Distill-Llama-8B",
        "deepseek-ai/DeepSeek-R1-Distill-Llama-70B",
        "Qwen/Qwen2.5-7B-Instruct",
        "Qwen/Qwen2.5-72B-Instruct",
    }
    assert set(MODELS) == expected


@pytest.mark.parametrize("model_id", MODELS)
def test_parameter_count_within_2_percent_of_published(model_id: str) -> None:
    m = catalog()[model_id]
    assert m.published_params is not None
    total = count(m.arch).total
    assert abs(total / m.published_params - 1) < 0.02, (total, m.published_params)


@pytest.mark.parametrize("model_id", MODELS)
def test_every_catalog_file_cites_its_config(model_id: str) -> None:
    assert catalog()[model_id].source == f"https://huggingface.co/{model_id}/blob/main/config.json"


def test_deepseek_v3_active_parameters_are_about_37b() -> None:
    p = count(catalog()["deepseek-ai/DeepSeek-V3"].arch)
    assert 36.5e9 < p.active < 38.5e9


def test_v3_has_three_dense_layers_then_58_moe_layers() -> None:
    a = catalog()["deepseek-ai/DeepSeek-R1"].arch
    assert a.layers == 61
    assert a.moe_layers == 58
    assert not a.is_moe_layer(2) and a.is_moe_layer(3)


def test_weights_bf16_are_two_bytes_per_parameter() -> None:
    p = count(catalog()["deepseek-ai/DeepSeek-R1-Distill-Llama-8B"].arch)
    assert weight_bytes(p, "bf16", "vllm") == 2 * p.total == 16_060_522_496


def test_weights_fp8_keep_embeddings_norms_and_gates_in_bf16() -> None:
    p = count(catalog()["deepseek-ai/DeepSeek-R1"].arch)
    expected = (p.total - p.embeddings - p.small) * 1 + (p.embeddings + p.small) * 2
    assert weight_bytes(p, "fp8", "sglang") == expected
    # "About 700 GB for weights alone", not the 1.35 TB of bf16 guides.
    assert 670e9 < expected < 680e9
    assert weight_bytes(p, "bf16", "vllm") == 2 * p.total


def test_weights_int4_awq_add_group_scales_and_zeros() -> None:
    p = count(catalog()["deepseek-ai/DeepSeek-R1-Distill-Llama-70B"].arch)
    bits = Fraction(4) + Fraction(20, 128)
    expected = math.ceil(p.quantizable * bits / 8) + (p.embeddings + p.small) * 2
    assert weight_bytes(p, "int4", "vllm") == expected


def test_weights_gguf_q4_k_m_is_the_ollama_70b_download() -> None:
    ref = lookup("deepseek-r1:70b")
    p = count(ref.model.arch)
    b = weight_bytes(p, "int4", "ollama", ref.gguf_quant)
    assert b == math.ceil(p.total * Fraction("4.89") / 8)
    assert 42e9 < b < 44e9  # ollama.com lists deepseek-r1:70b at 43 GB


def test_kv_bytes_gqa_llama_8b_by_hand() -> None:
    # 32 layers x (K and V) x 8 KV heads x 128 head dim x 2 bytes
    a = catalog()["deepseek-ai/DeepSeek-R1-Distill-Llama-8B"].arch
    assert kv_bytes_per_token(a, "vllm") == 32 * 2 * 8 * 128 * 2 == 131_072
    # TP 8 gives each GPU one KV head; TP past the 8 heads would replicate, never go below one.
    tp8 = driver("vllm").topology(8, 1)
    assert kv_bytes_per_token_per_gpu(a, "vllm", tp8) == 32 * 2 * 1 * 128 * 2


def test_kv_bytes_mla_r1_by_hand() -> None:
    # vLLM/SGLang cache the latent: 61 layers x (kv_lora_rank 512 + rope key 64) x 2 bytes
    a = catalog()["deepseek-ai/DeepSeek-R1"].arch
    assert kv_bytes_per_token(a, "sglang") == 61 * (512 + 64) * 2 == 70_272
    # The latent is not split by TP: every rank keeps all of it.
    assert kv_bytes_per_token_per_gpu(a, "sglang", driver("sglang").topology(8, 1)) == 70_272
    # vLLM on two nodes: two pipeline stages split the 61 layers 31/30.
    assert kv_bytes_per_token_per_gpu(a, "vllm", driver("vllm").topology(8, 2)) == 31 * 576 * 2
    # SGLang on two nodes is one TP16 group: every GPU keeps all 61 layers, twice vLLM's.
    assert kv_bytes_per_token_per_gpu(a, "sglang", driver("sglang").topology(8, 2)) == 70_272
    # TGI expands MLA: 128 heads x (K 128 nope + 64 rope, V 128) x 2 bytes, 71x more.
    assert kv_bytes_per_token(a, "tgi") == 61 * 128 * (128 + 64 + 128) * 2 == 4_997_120


def test_parameter_count_equals_the_models_transformers_built_on_the_h100() -> None:
    # bench/gpu_memory.py built each model with transformers on a real H100 and recorded
    # sum(p.numel()); the count must match exactly, so no weight is counted twice or missed.
    measured = json.loads((REPO / "bench" / "results" / "gpu_memory.json").read_text())
    built = {c["model"]: c["params_total"] for c in measured["cases"] if c["task"] == "infer"}
    assert len(built) >= 4
    for model_id, params in built.items():
        assert count(catalog()[model_id].arch).total == params, model_id
