"""Shared storage: one OCI File Storage file system that every node of a stack mounts over NFS.

Training jobs write checkpoints, read datasets and share weights through it; every node sees the
same files at the same path. OCI's File Storage grows with what it holds (there is nothing to
size) and speaks NFSv3 from a mount target in the nodes' private subnet
(oracle/terraform-provider-oci website/docs/r/file_storage_file_system.html.markdown).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from .base import Spec

# Paths go into fstab, a systemd unit and shell unquoted, so they keep to plain characters.
_PATH = re.compile(r"(/[A-Za-z0-9._-]+)+", re.ASCII)
#: Trees an NFS mount must not shadow: the system's own, and gpuform's local NVMe mount
#: (infra/render/context.py, PathsPart.localdisk).
RESERVED = (
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/opt", "/proc", "/root", "/run",
    "/sbin", "/sys", "/tmp", "/usr", "/var", "/mnt/localdisk",
)  # fmt: skip

Access = Literal["read-write", "read-only"]


def _nested(a: str, b: str) -> bool:
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


class SharedStorage(Spec):
    """An OCI File Storage file system, exported to the GPU nodes' subnet and mounted on each.

    Only the nodes' private subnet may reach it: the export admits that range alone and the
    mount target's NSG opens NFS's ports to it alone (infra/constructs/file_storage.py).
    """

    mount_path: str = Field(
        default="/mnt/shared", description="Where every node mounts it (created if missing)."
    )
    export_path: str = Field(
        default="/shared", description="The export's path on the mount target (NFS source)."
    )
    size_hint_gb: int | None = Field(
        default=None,
        ge=1,
        le=8_000_000_000,
        description=(
            "What you expect to keep, for the record (a tag on the file system). File Storage "
            "provisions nothing up front and bills what is stored."
        ),
    )
    access: Access = "read-write"
    root_squash: bool = Field(
        default=False,
        description=(
            "Map root on the nodes to nobody. Off by default: gpuform's units and the engine "
            "and trainer containers run as root, and a new file system's root directory is "
            "root's, so with squashing nothing could create a folder in it."
        ),
    )

    @field_validator("mount_path")
    @classmethod
    def _mount_path(cls, v: str) -> str:
        if not _PATH.fullmatch(v) or "/../" in f"{v}/" or "/./" in f"{v}/":
            raise ValueError(
                "use an absolute path of letters, digits, dots, dashes and underscores, "
                "such as /mnt/shared"
            )
        clash = next((r for r in RESERVED if _nested(v, r)), None)
        if clash is not None:
            raise ValueError(f"overlaps {clash}, which the node needs; use e.g. /mnt/shared")
        return v

    @field_validator("export_path")
    @classmethod
    def _export_path(cls, v: str) -> str:
        if not _PATH.fullmatch(v) or "/../" in f"{v}/" or "/./" in f"{v}/":
            raise ValueError("use an absolute path of plain characters, such as /shared")
        return v
