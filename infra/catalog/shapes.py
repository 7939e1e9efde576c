"""The OCI GPU shape catalog, loaded from shapes.json."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

Vendor = Literal["nvidia", "amd"]


@dataclass(frozen=True)
class Shape:
    """One OCI GPU shape, by its exact OCI name."""

    name: str
    vendor: Vendor
    gpu_model: str
    gpus: int
    gpu_memory_gb: int
    """The marketing size ("80 GB"), for display; sizing uses `gpu_memory_bytes`."""
    gpu_memory_bytes: int
    """Per GPU, what the driver reports a process can use (cudaMemGetInfo total)."""
    gpu_memory_source: str
    """Where `gpu_memory_bytes` was read: a driver reading with its date, or a datasheet."""
    nvme_drives: int
    rdma_nics: int
    ocpus: int
    host_memory_gb: int
    bare_metal: bool
    nvswitch: bool
    """HGX board whose GPUs talk over NVSwitch: CUDA does not start until nvidia-fabricmanager
    runs (H100/H200/A100 8-GPU shapes)."""
    usd_per_gpu_hour: float
    price_seen: str

    @property
    def total_gpu_memory_bytes(self) -> int:
        return self.gpus * self.gpu_memory_bytes

    @property
    def usd_per_hour(self) -> float:
        """Approximate list price of one node per hour (see PRICE_SOURCE)."""
        return round(self.gpus * self.usd_per_gpu_hour, 2)

    @property
    def rdma(self) -> bool:
        return self.rdma_nics > 0


@cache
def _load() -> tuple[str, dict[str, Shape]]:
    raw = json.loads(resources.files(__package__).joinpath("shapes.json").read_text())
    shapes = {s["name"]: Shape(**s) for s in raw["shapes"]}
    return raw["_price_source"], shapes


def shapes() -> dict[str, Shape]:
    """All shapes by name, in catalog order."""
    return _load()[1]


def price_source() -> str:
    return _load()[0]


def get_shape(name: str) -> Shape:
    """The shape called `name`; KeyError names the known shapes."""
    try:
        return shapes()[name]
    except KeyError:
        raise KeyError(f"unknown shape {name!r}; known: {', '.join(shapes())}") from None
