"""The GPU nodes of a stack: shape, count, image and disks."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ..catalog.shapes import Shape, get_shape, shapes
from .base import Spec

_IMAGE_OCID = re.compile(r"ocid1\.image\.oc\d\.[a-z0-9-]*\.[a-z0-9]+", re.ASCII)

ImageOs = Literal["Oracle Linux", "Canonical Ubuntu"]

#: The versions OCI publishes platform images of, per OS; the first is the default.
OS_VERSIONS: dict[str, tuple[str, ...]] = {
    "Oracle Linux": ("8", "9"),
    "Canonical Ubuntu": ("22.04", "24.04"),
}
#: The Terraform variable a custom image's OCID comes from when the stack does not name it.
IMAGE_VARIABLE = "node_image_ocid"


class Image(Spec):
    """The boot image: OCI's GPU platform image for the shape by default, or a custom image.

    Only Oracle Linux's GPU platform builds carry a GPU driver (NVIDIA). Ubuntu on a GPU shape
    and every AMD shape need a custom image with the driver, such as those oci-hpc documents
    (oracle-quickstart/oci-hpc documentation/Prerequisites.md, "Images"): name its OCID, or set
    `custom=True` to take it from the Terraform variable node_image_ocid at deploy time.
    """

    operating_system: ImageOs = "Oracle Linux"
    operating_system_version: str = Field(
        default="8", description="Default per OS: 8 for Oracle Linux, 22.04 for Canonical Ubuntu."
    )
    ocid: str | None = Field(default=None, description="A custom image OCID; skips the lookup.")
    custom: bool = Field(
        default=False,
        description=f"A custom image whose OCID is the Terraform variable {IMAGE_VARIABLE}.",
    )

    @model_validator(mode="before")
    @classmethod
    def _version_of_its_os(cls, data: Any) -> Any:
        # Each OS its own default version: "8" is Oracle Linux's, not Ubuntu's.
        if isinstance(data, dict) and "operating_system_version" not in data:
            os_name = data.get("operating_system", "Oracle Linux")
            if os_name in OS_VERSIONS:
                return {**data, "operating_system_version": OS_VERSIONS[os_name][0]}
        return data

    @model_validator(mode="after")
    def _published_version(self) -> Image:
        known = OS_VERSIONS[self.operating_system]
        if not self.is_custom and self.operating_system_version not in known:
            raise ValueError(
                f"operating_system_version {self.operating_system_version!r}: OCI publishes "
                f"{self.operating_system} platform images for {' and '.join(known)}; use one "
                "of those, or a custom image"
            )
        return self

    @field_validator("ocid")
    @classmethod
    def _ocid(cls, v: str | None) -> str | None:
        if v is not None and not _IMAGE_OCID.fullmatch(v):
            raise ValueError("not an image OCID; it looks like ocid1.image.oc1.<region>.<id>")
        return v

    @property
    def package_manager(self) -> Literal["dnf", "apt"]:
        return "apt" if self.operating_system == "Canonical Ubuntu" else "dnf"

    @property
    def is_custom(self) -> bool:
        """A custom image (named or from the Terraform variable) rather than a platform image."""
        return self.custom or self.ocid is not None


class NodeGroup(Spec):
    """Identical GPU nodes of one shape."""

    shape: str
    count: int = Field(default=1, ge=1, le=128)
    image: Image = Image()
    boot_volume_gb: int = Field(default=500, ge=50, le=32768)
    boot_volume_vpus_per_gb: int = Field(default=20, ge=10, le=120, multiple_of=10)
    availability_domain: int = Field(default=1, ge=1, le=3, description="AD number, 1-3.")
    fault_domain: Literal["FAULT-DOMAIN-1", "FAULT-DOMAIN-2", "FAULT-DOMAIN-3"] | None = None
    placement: Literal["compute_cluster", "cluster_network"] | None = Field(
        default=None,
        description=(
            "RDMA placement: compute_cluster (instances launched one by one, each with its own "
            "user_data) or cluster_network (one instance pool; nodes learn their index from "
            "a roster at boot). Multi-node plans get a compute cluster without asking."
        ),
    )

    @field_validator("shape")
    @classmethod
    def _known_shape(cls, v: str) -> str:
        if v not in shapes():
            raise ValueError(f"unknown shape; use one of {', '.join(shapes())}")
        return v

    @field_validator("placement")
    @classmethod
    def _rdma_shape(cls, v: str | None, info: ValidationInfo) -> str | None:
        shape = info.data.get("shape")
        if v is not None and shape is not None and not get_shape(shape).rdma:
            rdma = ", ".join(n for n, s in shapes().items() if s.rdma)
            raise ValueError(f"{shape} has no RDMA network; leave placement unset or use {rdma}")
        return v

    @model_validator(mode="after")
    def _image_has_the_driver(self) -> NodeGroup:
        # Platform images: Oracle Linux's GPU builds carry the NVIDIA driver; none carries ROCm
        # and Canonical's carry no GPU driver, which the bootstrap does not install.
        shape, image = self.shape_info, self.image
        if image.is_custom:
            return self
        custom = (
            f"set image=Image(operating_system=..., ocid='ocid1.image...'), or custom=True to "
            f"pass its OCID as Terraform variable {IMAGE_VARIABLE}"
        )
        if shape.vendor == "amd":
            raise ValueError(
                f"image: {shape.name} has AMD GPUs and no OCI platform image carries ROCm; "
                "import a ROCm image (oci-hpc documentation/Prerequisites.md lists them) and "
                + custom
            )
        if image.operating_system == "Canonical Ubuntu":
            raise ValueError(
                f"image: Canonical Ubuntu platform images carry no NVIDIA driver for "
                f"{shape.name} and gpuform installs none; use Oracle Linux (its GPU images carry "
                "the driver) or a custom Ubuntu GPU image: " + custom
            )
        return self

    @property
    def shape_info(self) -> Shape:
        return get_shape(self.shape)
