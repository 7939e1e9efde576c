"""The `node` and `host` context parts: which node this is, and the machine it runs on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..catalog.shapes import Vendor

PackageManager = Literal["dnf", "apt"]

# AMD GPUs reach containers as device nodes, and ROCm's runtime's memory mapping is blocked by
# docker's default seccomp profile. The device nodes' groups (render, video) are added by the
# host's numeric GIDs where the container starts: an image's own /etc/group may lack them or
# number them differently (ollama/ollama:*-rocm, built on ubuntu:24.04, has no render group).
_AMD_FLAGS = (
    "--device", "/dev/kfd", "--device", "/dev/dri",
    "--security-opt", "seccomp=unconfined", "--ipc=host",
)  # fmt: skip
_NVIDIA_FLAGS = ("--gpus", "all", "--ipc=host")


@dataclass(frozen=True)
class NodePart:
    """Which node this is, and its place in its replica."""

    stack: str
    index: int
    count: int
    rank: int
    """Place inside its replica; 0 is the replica's head."""
    replica_nodes: int
    """Nodes this node's replica spans; above 1 the nodes rendezvous at the head."""

    @property
    def is_head(self) -> bool:
        """Head of its replica: serves the API (and, multi-node, leads Ray or SGLang)."""
        return self.rank == 0


@dataclass(frozen=True)
class HostPart:
    """The machine: shape, GPUs, disks and the image's package manager."""

    shape: str
    vendor: Vendor
    gpus: int
    package_manager: PackageManager
    nvme_drives: int
    nvswitch: bool
    """NVIDIA GPUs joined by NVSwitch: CUDA needs nvidia-fabricmanager running first."""
    gpu_flags: tuple[str, ...]
    """docker run flags that hand a container this host's GPUs."""


def gpu_flags(vendor: Vendor) -> tuple[str, ...]:
    """The docker run flags that hand a container this vendor's GPUs."""
    return _AMD_FLAGS if vendor == "amd" else _NVIDIA_FLAGS
