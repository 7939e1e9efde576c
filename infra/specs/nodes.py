"""The GPU nodes of a stack: shape, count, image and disks."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from ..catalog.shapes import Shape, get_shape, shapes
from .base import Spec

_IMAGE_OCID = re.compile(r"^ocid1\.image\.oc\d\.[a-z0-9-]*\.[a-z0-9]+$")

ImageOs = Literal["Oracle Linux", "Canonical Ubuntu"]


class Image(Spec):
    """The boot image: OCI's GPU platform image for the shape by default, or a custom OCID."""

    operating_system: ImageOs = "Oracle Linux"
    operating_system_version: str = "8"
    ocid: str | None = Field(default=None, description="A custom image OCID; skips the lookup.")

    @field_validator("ocid")
    @classmethod
    def _ocid(cls, v: str | None) -> str | None:
        if v is not None and not _IMAGE_OCID.match(v):
            raise ValueError("not an image OCID; it looks like ocid1.image.oc1.<region>.<id>")
        return v

    @property
    def package_manager(self) -> Literal["dnf", "apt"]:
        return "apt" if self.operating_system == "Canonical Ubuntu" else "dnf"


class NodeGroup(Spec):
    """Identical GPU nodes of one shape."""

    shape: str
    count: int = Field(default=1, ge=1, le=128)
    image: Image = Image()
    boot_volume_gb: int = Field(default=500, ge=50, le=32768)
    boot_volume_vpus_per_gb: int = Field(default=20, ge=10, le=120, multiple_of=10)
    availability_domain: int = Field(default=1, ge=1, le=3, description="AD number, 1-3.")
    fault_domain: Literal["FAULT-DOMAIN-1", "FAULT-DOMAIN-2", "FAULT-DOMAIN-3"] | None = None

    @field_validator("shape")
    @classmethod
    def _known_shape(cls, v: str) -> str:
        if v not in shapes():
            raise ValueError(f"unknown shape; use one of {', '.join(shapes())}")
        return v

    @property
    def shape_info(self) -> Shape:
        return get_shape(self.shape)
