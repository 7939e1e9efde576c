"""The model catalog: one JSON per model in infra/catalog/models, plus Ollama tags."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .architecture import Architecture, from_config
from .precision import GGUF_QUANTS, Precision


class _Source(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    config: str = Field(description="URL of the config.json the architecture was read from.")
    params: str = Field(description="Where the published parameter count comes from.")


class _ModelFile(BaseModel):
    """The on-disk schema of infra/catalog/models/<name>.json."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    name: str
    native_precision: Precision
    published_params: int = Field(gt=0)
    source: _Source
    config: dict[str, Any]


class _OllamaTag(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    model: str
    quant: Literal["Q4_0", "Q4_K_M", "Q8_0", "F16"]


class _OllamaFile(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    tags: dict[str, _OllamaTag]


@dataclass(frozen=True)
class CatalogModel:
    """One model the planner knows: its architecture and where the numbers come from."""

    id: str
    name: str
    arch: Architecture
    native_precision: Precision
    published_params: int | None
    source: str


@dataclass(frozen=True)
class ModelRef:
    """A model as a user named it: the catalog model, and the GGUF quant an Ollama tag fixes."""

    model: CatalogModel
    ollama_tag: str | None = None
    gguf_quant: str | None = None

    @property
    def tag_precision(self) -> Precision | None:
        """The precision an Ollama tag implies (Q4_K_M is int4), or None for a Hugging Face id."""
        return GGUF_QUANTS[self.gguf_quant].precision if self.gguf_quant else None


class UnknownModel(LookupError):
    """The name is neither a catalog id, a catalog short name, nor a known Ollama tag."""


def _dir() -> Any:
    return resources.files("infra.catalog").joinpath("models")


@cache
def catalog() -> dict[str, CatalogModel]:
    """Every catalog model by Hugging Face id, sorted by parameter count."""
    found: list[CatalogModel] = []
    for entry in _dir().iterdir():
        if not entry.name.endswith(".json") or entry.name.startswith("_"):
            continue
        try:
            raw = _ModelFile.model_validate_json(entry.read_text())
        except ValidationError as err:
            raise RuntimeError(f"catalog file {entry.name} is malformed: {err}") from None
        found.append(
            CatalogModel(
                id=raw.id,
                name=raw.name,
                arch=from_config(raw.config),
                native_precision=raw.native_precision,
                published_params=raw.published_params,
                source=raw.source.config,
            )
        )
    found.sort(key=lambda m: (m.published_params or 0, m.id))
    return {m.id: m for m in found}


@cache
def ollama_tags() -> dict[str, _OllamaTag]:
    """Known Ollama tags and the catalog model and GGUF quant each pulls."""
    return _OllamaFile.model_validate_json(_dir().joinpath("_ollama_tags.json").read_text()).tags


def lookup(name: str) -> ModelRef:
    """A catalog model by id, by short name (case-insensitive), or by Ollama tag."""
    models = catalog()
    if name in models:
        return ModelRef(models[name])
    low = name.lower()
    for m in models.values():
        if low in (m.id.lower(), m.name.lower()):
            return ModelRef(m)
    tags = ollama_tags()
    tag = tags.get(low) or tags.get(f"{low}:latest")
    if tag is not None:
        return ModelRef(models[tag.model], ollama_tag=low, gguf_quant=tag.quant)
    raise UnknownModel(name)


#: A config.json is a few kilobytes; anything past this is not one (and not read into memory).
MAX_CONFIG_BYTES = 4 * 1024 * 1024


def from_file(path: Path, name: str) -> ModelRef:
    """A model outside the catalog, from a local config.json; ValueError says what is wrong."""
    cfg = _read_config(path)
    arch = from_config(cfg)
    dtype = str(cfg.get("torch_dtype", "bfloat16"))
    native: Precision = "fp16" if dtype == "float16" else "bf16"
    if isinstance(cfg.get("quantization_config"), dict):
        method = str(cfg["quantization_config"].get("quant_method", ""))
        native = "fp8" if method == "fp8" else native
    return ModelRef(CatalogModel(name, name, arch, native, None, str(path)))


def _read_config(path: Path) -> dict[str, Any]:
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as err:
        raise ValueError(
            f"cannot read it ({err.strerror or err}); point it at a config.json"
        ) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("is not a regular file; point it at a config.json")
        raw = b""
        while len(raw) <= MAX_CONFIG_BYTES and (chunk := os.read(fd, 1 << 20)):
            raw += chunk
    except OSError as err:
        raise ValueError(f"cannot read it ({err.strerror or err})") from None
    finally:
        os.close(fd)
    if len(raw) > MAX_CONFIG_BYTES:
        raise ValueError(
            f"is over {MAX_CONFIG_BYTES // 1024 // 1024} MiB, too large for a config.json; "
            "point it at the model's config.json"
        )
    try:
        cfg = json.loads(raw, parse_constant=_no_constant)
    except json.JSONDecodeError as err:
        raise ValueError(f"is not JSON ({err.msg} at line {err.lineno})") from None
    except RecursionError:
        raise ValueError("nests too deeply to be a config.json") from None
    except ValueError as err:  # a constant, or an integer too long for Python to read
        raise ValueError(f"is not a config.json: {' '.join(str(err).split())}") from None
    if not isinstance(cfg, dict):
        raise ValueError("is not a config.json object")
    return cfg


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number; write a finite value")
