"""NodeGroup: identical GPU instances, each booting its own rendered cloud-config."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from .. import node_metadata
from ..render.cloud_config import render_cloud_config
from ..sizing.settings import EngineSettings
from ..specs import StackSpec
from ..tf import oci
from ..tf.cdk import Construct
from .images import IGNORE_IMAGE_DRIFT, platform_image_id

ENABLED, DISABLED = "ENABLED", "DISABLED"


@dataclass(frozen=True)
class NodeGroupProps:
    """A stack's nodes, where they go, and the apply-time values they read at boot."""

    stack: StackSpec
    settings: EngineSettings
    compartment_id: str
    availability_domain: str
    subnet_id: str
    nsg_id: str
    ssh_authorized_keys: str
    api_key_secret_id: str


class NodeGroup(Construct):
    """`count` instances of one GPU shape in the private subnet."""

    def __init__(self, scope: Construct, id: str, props: NodeGroupProps) -> None:
        super().__init__(scope, id)
        spec, nodes = props.stack, props.stack.nodes
        shape = nodes.shape_info
        image_id = platform_image_id(
            self, "image", props.compartment_id, shape.name, nodes.image, gpu=True
        )
        settings = props.settings
        self.instances: list[oci.CoreInstance] = []
        # settings.nodes, not nodes.count: the planner sizes a stack that leaves the count unset.
        for index in range(settings.nodes):
            # Workers learn their replica head's address at apply time; a head gets "".
            head = settings.head_of(index)
            head_ip = "" if head == index else self.instances[head].private_ip
            user_data = render_cloud_config(spec, index, props.settings)
            metadata = node_metadata.instance_metadata(
                stack=spec.name,
                node_index=index,
                node_count=settings.nodes,
                user_data_b64=base64.b64encode(user_data.encode()).decode(),
                values=node_metadata.ApplyTimeValues(
                    ssh_authorized_keys=props.ssh_authorized_keys,
                    api_key_secret_id=props.api_key_secret_id,
                    head_ip=head_ip,
                ),
            )
            self.instances.append(
                oci.CoreInstance(
                    self,
                    f"node_{index}",
                    oci.CoreInstanceArgs(
                        availability_domain=props.availability_domain,
                        compartment_id=props.compartment_id,
                        shape=shape.name,
                        display_name=f"{spec.name}-node-{index}",
                        fault_domain=nodes.fault_domain,
                        create_vnic_details=oci.CreateVnicDetails(
                            subnet_id=props.subnet_id,
                            assign_public_ip="false",
                            nsg_ids=[props.nsg_id],
                            hostname_label=f"node{index}",
                        ),
                        source_details=oci.InstanceSourceDetails(
                            source_id=image_id,
                            boot_volume_size_in_gbs=str(nodes.boot_volume_gb),
                            boot_volume_vpus_per_gb=str(nodes.boot_volume_vpus_per_gb),
                        ),
                        metadata=metadata,
                        agent_config=_agent_config(shape.vendor),
                        launch_options=None if shape.bare_metal else oci.ENCRYPT_IN_TRANSIT,
                        freeform_tags={
                            "gpuform-stack": spec.name,
                            "gpuform-role": "head" if head == index else "worker",
                            "gpuform-node-index": str(index),
                            "gpuform-replica": str(index // settings.pipeline_parallel_size),
                        },
                    ),
                    ignore_changes=() if nodes.image.ocid else IGNORE_IMAGE_DRIFT,
                )
            )

        self.heads = [i for n, i in enumerate(self.instances) if settings.is_head(n)]
        """One per replica: the nodes that serve the API."""


def _agent_config(vendor: str) -> oci.AgentConfig:
    # GPU monitoring reports NVIDIA health to OCI; the RDMA plugins belong to cluster networks
    # (multi-node), so a lone node leaves them off rather than failing to find peers.
    plugins = [
        oci.PluginConfig(name="Compute Instance Monitoring", desired_state=ENABLED),
        oci.PluginConfig(
            name="Compute RDMA GPU Monitoring",
            desired_state=ENABLED if vendor == "nvidia" else DISABLED,
        ),
        oci.PluginConfig(name="Compute HPC RDMA Authentication", desired_state=DISABLED),
        oci.PluginConfig(name="Compute HPC RDMA Auto-Configuration", desired_state=DISABLED),
    ]
    return oci.AgentConfig(
        is_management_disabled=False, is_monitoring_disabled=False, plugins_config=plugins
    )
