"""The model a stack serves."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from .base import Spec

Precision = Literal["bf16", "fp16", "fp8", "int8", "int4"]

# Hugging Face ids (org/name) for vLLM, SGLang and TGI; Ollama tags (name:tag) for Ollama.
_HF_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+", re.ASCII)
_OLLAMA_TAG = re.compile(r"[a-z0-9][\w.-]*(/[\w.-]+)?(:[\w.-]+)?", re.ASCII)


class Model(Spec):
    """A Hugging Face model id (or an Ollama tag), its revision and serving precision."""

    id: str = Field(
        description="Hugging Face id such as deepseek-ai/DeepSeek-R1, or an Ollama tag."
    )
    revision: str = Field(default="main", pattern=r"^[A-Za-z0-9_.-]+$")
    precision: Precision = "bf16"
    hub_token: bool = Field(
        default=False,
        description=(
            "The hub repo is private or gated: nodes read a hub token from the OCI Vault secret "
            "whose OCID is the Terraform variable hub_token_secret_ocid (never from the spec), "
            "and the weights pull sends it to the hub alone (docs/weights.md)."
        ),
    )

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not (_HF_ID.fullmatch(v) or _OLLAMA_TAG.fullmatch(v)):
            raise ValueError("use a Hugging Face id (org/name) or an Ollama tag (name:tag)")
        return v

    @property
    def is_hf_id(self) -> bool:
        return bool(_HF_ID.fullmatch(self.id)) and ":" not in self.id

    @property
    def short_name(self) -> str:
        return self.id.rsplit("/", 1)[-1]
