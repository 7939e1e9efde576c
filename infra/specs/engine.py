"""The serving engine: which server runs the model, from which container image."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from .base import Spec

EngineKind = Literal["vllm", "sglang", "ollama", "tgi"]

_IMAGE = re.compile(r"^[a-z0-9][a-z0-9._/-]*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")

# Images the DeepSeek serving guides use; a stack can name any other.
DEFAULT_IMAGES: dict[tuple[EngineKind, str], tuple[str, str]] = {
    ("vllm", "nvidia"): ("vllm/vllm-openai", "v0.11.0"),
    ("vllm", "amd"): ("rocm/vllm", "rocm6.4.1_vllm_0.10.1_20250909"),
    ("sglang", "nvidia"): ("lmsysorg/sglang", "v0.5.4-cu126"),
    ("sglang", "amd"): ("lmsysorg/sglang", "v0.5.4-rocm630-mi30x"),
    ("ollama", "nvidia"): ("ollama/ollama", "0.12.6"),
    ("ollama", "amd"): ("ollama/ollama", "0.12.6-rocm"),
    ("tgi", "nvidia"): ("ghcr.io/huggingface/text-generation-inference", "3.3.6"),
    ("tgi", "amd"): ("ghcr.io/huggingface/text-generation-inference", "3.3.6-rocm"),
}

DEFAULT_PORTS: dict[EngineKind, int] = {"vllm": 8000, "sglang": 30000, "ollama": 11434, "tgi": 8080}


class Engine(Spec):
    """A serving engine and its settings; unset sizes come from the planner or the shape."""

    kind: EngineKind
    image: str | None = Field(default=None, description="Container image; default per engine.")
    tag: str | None = Field(default=None, description="Image tag; default per engine.")
    port: int | None = Field(default=None, ge=1024, le=65535)
    tensor_parallel_size: int | None = Field(default=None, ge=1, le=8)
    max_model_len: int | None = Field(default=None, ge=256, le=1_048_576)
    gpu_memory_utilization: float | None = Field(default=None, gt=0.1, le=0.98)
    extra_args: tuple[str, ...] = ()

    @field_validator("image")
    @classmethod
    def _image(cls, v: str | None) -> str | None:
        if v is not None and not _IMAGE.match(v):
            raise ValueError("use a repository name such as vllm/vllm-openai, without the tag")
        return v

    @field_validator("tag")
    @classmethod
    def _tag(cls, v: str | None) -> str | None:
        if v is not None and not _TAG.match(v):
            raise ValueError("use an image tag such as v0.11.0")
        return v

    @field_validator("extra_args")
    @classmethod
    def _args(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for arg in v:
            if "\n" in arg or "'" in arg:
                raise ValueError("an argument holds a newline or single quote; pass plain tokens")
        return v

    def image_ref(self, vendor: str) -> str:
        """The full image reference `repo:tag`, defaults filled for the GPU vendor."""
        repo, tag = DEFAULT_IMAGES[(self.kind, vendor)]
        return f"{self.image or repo}:{self.tag or tag}"

    @property
    def serve_port(self) -> int:
        return self.port or DEFAULT_PORTS[self.kind]
