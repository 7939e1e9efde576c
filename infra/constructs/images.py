"""Image lookups: OCI's platform images, newest first."""

from __future__ import annotations

from ..specs import Image
from ..tf import oci
from ..tf.cdk import Construct

#: Keeps a running instance when OCI publishes a newer platform image: the lookup below would
#: otherwise change source_id, which replaces the instance. Replace nodes on purpose instead.
IGNORE_IMAGE_DRIFT = ("source_details[0].source_id",)


def platform_image_id(
    scope: Construct, id: str, compartment_id: str, shape: str, image: Image, gpu: bool
) -> str:
    """The image OCID for `shape`: the custom OCID if given, else the newest platform image.

    On GPU shapes the Oracle Linux lookup keeps only the GPU builds, which carry the driver.
    """
    if image.ocid:
        return image.ocid
    only_gpu = gpu and image.operating_system == "Oracle Linux"
    lookup = oci.CoreImages(
        scope,
        id,
        oci.CoreImagesArgs(
            compartment_id=compartment_id,
            operating_system=image.operating_system,
            operating_system_version=image.operating_system_version,
            shape=shape,
            filter=[oci.Filter(name="display_name", values=[".*GPU.*"], regex=True)]
            if only_gpu
            else None,
        ),
    )
    return lookup.newest_id
