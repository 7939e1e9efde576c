"""The serving engine: which server runs the model, from which container image."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from ..catalog.shapes import Vendor
from ..engines import ENGINE_KINDS, EngineKind, driver, one_of
from .base import Spec

_IMAGE = re.compile(r"[a-z0-9][a-z0-9._/-]*", re.ASCII)
_TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)


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

    @field_validator("kind")
    @classmethod
    def _kind(cls, v: str) -> str:
        if v not in ENGINE_KINDS:
            raise ValueError(f"not a registered engine; use {one_of(ENGINE_KINDS)}")
        return v

    @field_validator("image")
    @classmethod
    def _image(cls, v: str | None) -> str | None:
        if v is not None and not _IMAGE.fullmatch(v):
            raise ValueError("use a repository name such as vllm/vllm-openai, without the tag")
        return v

    @field_validator("tag")
    @classmethod
    def _tag(cls, v: str | None) -> str | None:
        if v is not None and not _TAG.fullmatch(v):
            raise ValueError("use an image tag such as v0.11.0")
        return v

    @field_validator("extra_args")
    @classmethod
    def _args(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for arg in v:
            if "\n" in arg or "'" in arg:
                raise ValueError("an argument holds a newline or single quote; pass plain tokens")
        return v

    def image_ref(self, vendor: Vendor) -> str:
        """The full image reference `repo:tag`, defaults filled for the GPU vendor."""
        return driver(self.kind).image_ref(vendor, self.image, self.tag)

    @property
    def serve_port(self) -> int:
        return self.port or driver(self.kind).port
