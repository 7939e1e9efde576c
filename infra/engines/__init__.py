"""Engine drivers: one module per serving engine holds everything engine-specific."""

from __future__ import annotations

from typing import get_args

from . import ollama, sglang, tgi, vllm
from .base import (
    HEAD_IP,
    RAY_PORT,
    ApiKeySupport,
    EngineCommand,
    EngineDriver,
    EngineKind,
    MemoryProfile,
    RayRole,
    ServeInputs,
)
from .topology import Topology

ENGINE_KINDS: tuple[EngineKind, ...] = get_args(EngineKind)

_DRIVERS: dict[EngineKind, EngineDriver] = {
    d.kind: d for d in (vllm.DRIVER, sglang.DRIVER, tgi.DRIVER, ollama.DRIVER)
}


def driver(kind: EngineKind) -> EngineDriver:
    """The driver of engine `kind`."""
    return _DRIVERS[kind]


__all__ = [
    "ENGINE_KINDS",
    "HEAD_IP",
    "RAY_PORT",
    "ApiKeySupport",
    "EngineCommand",
    "EngineDriver",
    "EngineKind",
    "MemoryProfile",
    "RayRole",
    "ServeInputs",
    "Topology",
    "driver",
]
