"""The `storage` context part: the shared File Storage export a node mounts, and how.

The mount target's address is known only at apply time, so it reaches the node as the
instance-metadata key gpuform_shared_fs_ip (infra/node_metadata.py), read into node.env by the
node-env step; everything else is decided here, at synth.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import node_metadata
from ..specs.storage import SharedStorage

# File Storage serves NFSv3 (its mount target answers rpcbind, MOUNT, NFS and NLM on the ports
# of OCI's "Configuring VCN Security Rules for File Storage", docs.oracle.com .../File/Tasks/
# securitylistsfilestorage.htm); pinning the version spares the client a v4 probe. `hard`: I/O
# waits out a mount target failover instead of failing a checkpoint write; `resvport`: the
# export requires a privileged source port (require_privileged_source_port, provider docs
# website/docs/r/file_storage_export.html.markdown). `nconnect=16`: sixteen TCP connections to
# the mount target instead of one, as oci-hpc mounts File Storage (playbooks/roles/nfs-client/
# tasks/el.yml, "defaults,nconnect=16"); one connection caps a node's checkpoint writes far
# below its NICs. Kernels since 5.3 take it: UEK6/7, RHCK 8.3+, Ubuntu 20.04+.
_NFS_OPTIONS = "nfsvers=3,proto=tcp,hard,timeo=600,retrans=2,resvport,nconnect=16"


@dataclass(frozen=True)
class StoragePart:
    """One node's NFS mount of the stack's shared file system."""

    mount_path: str
    export_path: str
    read_only: bool
    ip_key: str
    """The instance-metadata key holding the mount target's private IP."""
    ip_var: str
    """The node.env variable it becomes."""
    fstab: str = "/etc/fstab"
    tries: int = 20
    """Mount attempts before the step gives up (the export may still be settling)."""
    try_timeout_s: int = 30
    retry_delay_s: int = 15
    install_timeout_s: int = 600

    @property
    def options(self) -> str:
        """Options of the mount command."""
        return f"{_NFS_OPTIONS},{'ro' if self.read_only else 'rw'}"

    @property
    def fstab_options(self) -> str:
        """The fstab line's options: at boot, wait for the network and never block the boot."""
        return f"{self.options},nofail,_netdev"

    @property
    def start_timeout_s(self) -> int:
        """The unit's TimeoutStartSec: the client install, then every attempt and pause."""
        return self.install_timeout_s + self.tries * (self.try_timeout_s + self.retry_delay_s) + 60


def storage_part(spec: SharedStorage | None) -> StoragePart | None:
    """The storage part of any node of a stack sharing `spec`; None when it shares none."""
    if spec is None:
        return None
    key = node_metadata.SHARED_FS_IP
    return StoragePart(
        mount_path=spec.mount_path,
        export_path=spec.export_path,
        read_only=spec.access == "read-only",
        ip_key=key,
        ip_var=key.upper(),
    )
