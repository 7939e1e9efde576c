"""Engine drivers: one module per serving engine holds everything engine-specific."""

from __future__ import annotations

from collections.abc import Callable

from . import ollama, sglang, tgi, vllm
from .base import (
    HEAD_IP,
    RAY_PORT,
    ApiKeySupport,
    EngineCommand,
    EngineDriver,
    EngineKind,
    MemoryProfile,
    ModelPull,
    RayRole,
    ServeInputs,
)
from .topology import Topology

#: The registry: every engine gpuform serves with, and the one place a driver is listed. Order is
#: preference: with no engine named, the planner takes the first that fits the model id's form
#: (`default_kind`), and messages list the engines in this order. Adding an engine is its module
#: (one EngineDriver) plus one entry here; docs/architecture.md, "Adding an engine".
DRIVERS: tuple[EngineDriver, ...] = (vllm.DRIVER, sglang.DRIVER, tgi.DRIVER, ollama.DRIVER)

_BY_KIND: dict[EngineKind, EngineDriver] = {d.kind: d for d in DRIVERS}
if len(_BY_KIND) != len(DRIVERS):
    raise RuntimeError("two engine drivers share a kind")  # a programming error, at import

ENGINE_KINDS: tuple[EngineKind, ...] = tuple(_BY_KIND)


def driver(kind: EngineKind) -> EngineDriver:
    """The driver of engine `kind` (a registered one: specs and the CLI check input first)."""
    return _BY_KIND[kind]


def kinds(where: Callable[[EngineDriver], bool] = lambda _d: True) -> tuple[EngineKind, ...]:
    """The registered kinds whose driver satisfies `where`, in registry order."""
    return tuple(d.kind for d in DRIVERS if where(d))


def one_of(names: tuple[str, ...]) -> str:
    """`a, b or c`, as messages offer a choice."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def default_kind(pulls_model: bool) -> EngineKind:
    """The engine a plan uses when the request names none: the first registered one that takes
    the model's id form (a tag its server pulls, or a Hugging Face id gpuform fetches)."""
    return kinds(lambda d: d.pulls_model == pulls_model)[0]


__all__ = [
    "DRIVERS",
    "ENGINE_KINDS",
    "HEAD_IP",
    "RAY_PORT",
    "ApiKeySupport",
    "EngineCommand",
    "EngineDriver",
    "EngineKind",
    "MemoryProfile",
    "ModelPull",
    "RayRole",
    "ServeInputs",
    "Topology",
    "default_kind",
    "driver",
    "kinds",
    "one_of",
]
