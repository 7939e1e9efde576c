"""Bastion: the one small VM with a public IP, for `ssh -J` to the private GPU nodes."""

from __future__ import annotations

from dataclasses import dataclass

from ..specs import Image
from ..tf import oci
from ..tf.cdk import Construct
from .images import IGNORE_IMAGE_DRIFT, platform_image_id

BASTION_SHAPE = "VM.Standard.E5.Flex"


@dataclass(frozen=True)
class BastionProps:
    name: str
    compartment_id: str
    availability_domain: str
    subnet_id: str
    nsg_id: str
    ssh_authorized_keys: str


class Bastion(Construct):
    """1 OCPU / 8 GB Oracle Linux VM in the public subnet; admits SSH from the allowed CIDRs."""

    def __init__(self, scope: Construct, id: str, props: BastionProps) -> None:
        super().__init__(scope, id)
        image_id = platform_image_id(
            self, "image", props.compartment_id, BASTION_SHAPE, Image(), gpu=False
        )
        self.instance = oci.CoreInstance(
            self,
            "vm",
            oci.CoreInstanceArgs(
                availability_domain=props.availability_domain,
                compartment_id=props.compartment_id,
                shape=BASTION_SHAPE,
                shape_config=oci.ShapeConfig(ocpus=1, memory_in_gbs=8),
                display_name=f"{props.name}-bastion",
                create_vnic_details=oci.CreateVnicDetails(
                    subnet_id=props.subnet_id,
                    assign_public_ip="true",
                    nsg_ids=[props.nsg_id],
                    hostname_label="bastion",
                ),
                source_details=oci.InstanceSourceDetails(source_id=image_id),
                is_pv_encryption_in_transit_enabled=True,
                metadata={"ssh_authorized_keys": props.ssh_authorized_keys},
                freeform_tags={"gpuform-stack": props.name, "gpuform-role": "bastion"},
            ),
            ignore_changes=IGNORE_IMAGE_DRIFT,
        )

    @property
    def public_ip(self) -> str:
        return self.instance.public_ip
