"""GpuNodes: identical GPU instances, launched one by one (each booting its own stage 0) or
as one cluster network's pool (sharing one, with a roster: cluster_network.py). Either way
every node fetches its files as a bundle from the stack's boot bucket (bundles.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from .. import node_metadata
from ..node_plan import NodePlan, bundles, pool_stage0
from ..placement import Placement
from ..specs import NodeGroup
from ..tf import oci
from ..tf.cdk import Construct
from .bundles import BootBucket, BootBucketProps, Bundles
from .cluster_network import ClusterNetwork, ClusterNetworkProps
from .images import IGNORE_IMAGE_DRIFT, platform_image_id

ENABLED, DISABLED = "ENABLED", "DISABLED"


@dataclass(frozen=True)
class GpuNodesProps:
    """A stack's nodes as the node plan decided them, where they go, and apply-time values."""

    nodes: NodeGroup
    plan: tuple[NodePlan, ...]
    placement: Placement | None
    compartment_id: str
    availability_domain: str
    subnet_id: str
    nsg_id: str
    values: node_metadata.ApplyTimeValues
    """What every node's metadata carries from elsewhere in the stack; the head's IP, the
    roster's and the bundles' URLs are filled in here."""
    block_volumes: bool = False
    """Weight volumes attach to these nodes: the agent's Block Volume Management plugin runs."""
    image_id: str | None = None
    """A custom image's OCID from a Terraform variable (nodes.image.custom without an OCID)."""
    region: str = ""
    """The stack's region: the bundles' and roster's URLs name it."""


class GpuNodes(Construct):
    """One node per planned node, of one GPU shape, in the private subnet."""

    def __init__(self, scope: Construct, id: str, props: GpuNodesProps) -> None:
        super().__init__(scope, id)
        nodes = props.nodes
        image_id = props.image_id or platform_image_id(
            self, "image", props.compartment_id, nodes.shape_info.name, nodes.image, gpu=True
        )
        self.cluster: oci.CoreComputeCluster | None = None
        """The compute cluster every node joins, so they share one RDMA network block."""
        self.pool: ClusterNetwork | None = None
        """The cluster network whose pool launches every node, on one RDMA network block."""
        self.instances: Sequence[oci.NodeInstance]
        """The nodes in plan order: index i is the plan's node i (in a pool, by the roster)."""
        if not props.region:
            raise ValueError("the bundles' URLs need the stack's region")
        self.boot = BootBucket(
            self,
            "boot",
            BootBucketProps(props.plan[0].stack, props.compartment_id, props.region),
        )
        self.bundles = Bundles(self, "bundles", self.boot, bundles(props.plan))
        if props.placement == "cluster_network":
            self.pool = ClusterNetwork(self, "pool", self._pool_props(props, image_id))
            self.instances = self.pool.instances
        else:
            self.instances = self._one_by_one(props, image_id)
        self.heads = [self.instances[n.index] for n in props.plan if n.role == "head"]
        """One per replica: the nodes that serve the API."""

    def _one_by_one(self, props: GpuNodesProps, image_id: str) -> list[oci.CoreInstance]:
        self.cluster = (
            oci.CoreComputeCluster(
                self,
                "rdma",
                oci.CoreComputeClusterArgs(
                    availability_domain=props.availability_domain,
                    compartment_id=props.compartment_id,
                    display_name=f"{props.plan[0].stack}-rdma",
                ),
            )
            if props.placement == "compute_cluster"
            else None
        )
        instances: list[oci.CoreInstance] = []
        for node in props.plan:
            # Workers learn their replica head's address at apply time; a head gets "".
            head_ip = "" if node.role == "head" else instances[node.head].private_ip
            urls = self.bundles.urls([node.bundle])
            metadata = node.metadata(replace(props.values, head_ip=head_ip, bundle_urls=urls))
            instances.append(self._instance(props, node, image_id, metadata))
        return instances

    def _instance(
        self, props: GpuNodesProps, node: NodePlan, image_id: str, metadata: Mapping[str, str]
    ) -> oci.CoreInstance:
        nodes = props.nodes
        shape = nodes.shape_info
        return oci.CoreInstance(
            self,
            f"node_{node.index}",
            oci.CoreInstanceArgs(
                availability_domain=props.availability_domain,
                compartment_id=props.compartment_id,
                shape=shape.name,
                display_name=node.display_name,
                fault_domain=nodes.fault_domain,
                create_vnic_details=oci.CreateVnicDetails(
                    subnet_id=props.subnet_id,
                    assign_public_ip="false",
                    nsg_ids=[props.nsg_id],
                    hostname_label=node.hostname,
                ),
                source_details=oci.InstanceSourceDetails(
                    source_id=image_id,
                    boot_volume_size_in_gbs=str(nodes.boot_volume_gb),
                    boot_volume_vpus_per_gb=str(nodes.boot_volume_vpus_per_gb),
                ),
                metadata=metadata,
                agent_config=_agent_config(
                    shape.vendor, self.cluster is not None, props.block_volumes
                ),
                compute_cluster_id=self.cluster.id if self.cluster else None,
                # Paravirtualized boot volumes (VMs) encrypt in transit; bare metal
                # boots over iSCSI, where the option does not apply.
                is_pv_encryption_in_transit_enabled=None if shape.bare_metal else True,
                freeform_tags={
                    "gpuform-stack": node.stack,
                    "gpuform-role": node.role,
                    "gpuform-node-index": str(node.index),
                    "gpuform-replica": str(node.replica),
                },
            ),
            # A custom image changes only when the stack or its variable says so.
            ignore_changes=() if nodes.image.is_custom else IGNORE_IMAGE_DRIFT,
        )

    def _pool_props(self, props: GpuNodesProps, image_id: str) -> ClusterNetworkProps:
        stage0 = pool_stage0(props.plan)
        return ClusterNetworkProps(
            nodes=props.nodes,
            plan=props.plan,
            compartment_id=props.compartment_id,
            availability_domain=props.availability_domain,
            subnet_id=props.subnet_id,
            nsg_id=props.nsg_id,
            image_id=image_id,
            ignore_image_drift=not props.nodes.image.is_custom,
            # A pool is always RDMA: the same plugins as compute-cluster nodes.
            agent_config=_agent_config(props.nodes.shape_info.vendor, True, props.block_volumes),
            boot=self.boot,
            user_data_b64=stage0.user_data_b64,
            # Every node's head IP stays "" here: a node finds its head in the roster.
            values=replace(props.values, bundle_urls=self.bundles.urls(stage0.bundles)),
        )


def _agent_config(vendor: str, rdma: bool, block_volumes: bool = False) -> oci.AgentConfig:
    # GPU monitoring reports NVIDIA health to OCI. The RDMA plugins authenticate and address the
    # RDMA interfaces of nodes in a compute cluster (oracle-quickstart/oci-hpc enables both on
    # cluster nodes); a lone node leaves them off rather than failing to find peers.
    rdma_state = ENABLED if rdma else DISABLED
    plugins = [
        oci.PluginConfig(name="Compute Instance Monitoring", desired_state=ENABLED),
        oci.PluginConfig(
            name="Compute RDMA GPU Monitoring",
            desired_state=ENABLED if vendor == "nvidia" else DISABLED,
        ),
        oci.PluginConfig(name="Compute HPC RDMA Authentication", desired_state=rdma_state),
        oci.PluginConfig(name="Compute HPC RDMA Auto-Configuration", desired_state=rdma_state),
    ]
    if block_volumes:
        # Logs in to the weight volume's iSCSI target, so the attachment's
        # is_agent_auto_iscsi_login_enabled has an agent to do it (docs/weights.md).
        plugins.append(oci.PluginConfig(name="Block Volume Management", desired_state=ENABLED))
    return oci.AgentConfig(
        is_management_disabled=False, is_monitoring_disabled=False, plugins_config=plugins
    )
