"""Where a stack's model weights come from: an Object Storage bucket, and optionally a block
volume that caches them next to the GPUs (docs/weights.md).

Without `StackSpec.weights` every node pulls the model from the Hugging Face hub into its local
cache, once, with the same verification, before the engine starts.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Literal

from pydantic import Field, field_validator, model_validator

from .base import Spec

# OCI bucket names: letters, digits, dashes, underscores and periods, up to 256 characters
# (Object Storage "Managing Buckets"); the S3-compatible API and PAR URLs take them as they are.
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,255}", re.ASCII)
_PREFIX = re.compile(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*", re.ASCII)
_BACKUP_OCID = re.compile(r"ocid1\.volumebackup\.oc\d\.[a-z0-9-]*\.[a-z0-9]+", re.ASCII)

#: OCI attaches one volume to at most 32 instances in shareable mode (Block Volume
#: "Attaching a Volume to Multiple Instances"; oracle/terraform-provider-oci
#: website/docs/r/core_volume_attachment.html.markdown, is_shareable).
MAX_SHARED_ATTACHMENTS = 32

VolumeMode = Literal["shared-read-only", "clone-per-node"]


class WeightVolume(Spec):
    """A block volume that holds the weights: shared read-only, or one clone per node."""

    size_gb: int = Field(ge=50, le=32768, description="50 GB to 32 TB, as OCI allows.")
    vpus_per_gb: int = Field(
        default=20,
        ge=0,
        le=120,
        multiple_of=10,
        description="0 lower cost, 10 balanced, 20 higher performance, 30-120 ultra high.",
    )
    mode: VolumeMode = "clone-per-node"
    backup_id: str | None = Field(
        default=None,
        description="A volume backup OCID the volume(s) are restored from (warm once, clone many).",
    )

    @field_validator("backup_id")
    @classmethod
    def _backup(cls, v: str | None) -> str | None:
        if v is not None and not _BACKUP_OCID.fullmatch(v):
            raise ValueError(
                "not a volume backup OCID; it looks like ocid1.volumebackup.oc1.<region>.<id>"
            )
        return v

    @model_validator(mode="after")
    def _shared_needs_content(self) -> WeightVolume:
        if self.mode == "shared-read-only" and self.backup_id is None:
            raise ValueError(
                "volume.mode 'shared-read-only' needs volume.backup_id: a read-only volume only "
                "serves what a backup put there; warm a 'clone-per-node' volume, back it up, "
                "and name that backup"
            )
        if self.mode == "shared-read-only" and self.vpus_per_gb > 20:
            # Ultra high performance volumes attach multipath, and the agent's automatic iSCSI
            # login covers non-multipath attachments only (provider docs, volume_attachment).
            raise ValueError(
                f"volume.vpus_per_gb {self.vpus_per_gb} is ultra high performance, which needs "
                "multipath attachments; a shared read-only cache uses at most 20"
            )
        return self


class WeightCache(Spec):
    """The bucket a stack's weights live in (pushed with `gpuform weights push`)."""

    bucket: str = Field(description="Object Storage bucket name.")
    create: bool = Field(
        default=True, description="Create the bucket (private); False: use an existing one."
    )
    prefix: str | None = Field(
        default=None, description="Folder in the bucket; default: the model id."
    )
    par_expires: datetime | None = Field(
        default=None,
        description="Also create a read-only pre-authenticated request valid until then (UTC).",
    )
    volume: WeightVolume | None = None

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, v: str) -> str:
        if not _BUCKET.fullmatch(v):
            raise ValueError(
                "use letters, digits, '-', '_' and '.', starting with a letter or digit"
            )
        return v

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str | None) -> str | None:
        if v is not None and not _PREFIX.fullmatch(v):
            raise ValueError(
                "use path segments of letters, digits, '-', '_' and '.', such as "
                "deepseek-ai/DeepSeek-R1 (no leading or trailing '/')"
            )
        return v

    @field_validator("par_expires")
    @classmethod
    def _expires(cls, v: datetime | None) -> datetime | None:
        if v is None:
            return v
        if v.tzinfo is None:
            raise ValueError("give a timezone, e.g. datetime(2027, 1, 31, tzinfo=UTC)")
        if v <= datetime.now(UTC):
            raise ValueError("is in the past; pick a future expiry or drop par_expires")
        return v.astimezone(UTC)

    def folder(self, model_id: str) -> str:
        """The prefix objects sit under in the bucket: the stack's, or the model id."""
        return self.prefix or model_id

    @property
    def par_expires_rfc3339(self) -> str | None:
        """The PAR's expiry as Terraform takes it (RFC 3339, UTC)."""
        if self.par_expires is None:
            return None
        return self.par_expires.strftime("%Y-%m-%dT%H:%M:%SZ")
