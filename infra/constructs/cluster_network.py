"""ClusterNetwork: a stack's nodes as one instance pool on one RDMA network block
(`NodeGroup.placement = "cluster_network"`, docs/cluster-network.md).

Terraform creates, in order: the roster's read-only PAR (in the stack's boot bucket, beside
the bundles: bundles.py); an instance configuration
whose metadata every node shares (the PAR's URL included); the cluster network, which launches
the pool; the pool's instances, read back in lexical order of their OCIDs; and the roster,
which tells each node its index in that order. Whatever reads `instances` (outputs, the
dynamic group, the load balancer, volume attachments) reads them in the same order, so index i
everywhere is the node that reads index i from the roster.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from .. import node_metadata
from ..node_plan import NodePlan
from ..specs import NodeGroup
from ..tf import oci
from ..tf.builtin import TerraformData, TerraformDataArgs
from ..tf.cdk import Construct
from ..tf.resources import Condition
from .bundles import BootBucket
from .roster import Roster

#: oracle-quickstart/oci-hpc gives a cluster network 30 minutes per started batch of 20 nodes
#: to come up (locals.tf: timeout_per_batch, timeout_ip); the provider's default is 20 minutes
#: (website/docs/r/core_cluster_network.html.markdown, Timeouts).
MINUTES_PER_BATCH, NODES_PER_BATCH = 30, 20


def create_timeout(node_count: int) -> str:
    """The cluster network's create timeout for `node_count` nodes, as oci-hpc computes it."""
    return f"{(node_count // NODES_PER_BATCH + 1) * MINUTES_PER_BATCH}m"


@dataclass(frozen=True)
class ClusterNetworkProps:
    """What every node of the pool shares; the roster's URL is added here."""

    nodes: NodeGroup
    plan: tuple[NodePlan, ...]
    compartment_id: str
    availability_domain: str
    subnet_id: str
    nsg_id: str
    image_id: str
    ignore_image_drift: bool
    """False for a custom image, which changes only when the stack says so."""
    agent_config: oci.AgentConfig
    boot: BootBucket
    """The stack's boot bucket, where the roster goes."""
    user_data_b64: str
    """The stage 0 every node of the pool boots (infra/render/stage0.py)."""
    values: node_metadata.ApplyTimeValues
    """Apply-time metadata values but the roster's URL, which this construct fills in."""


class ClusterNetwork(Construct):
    """An instance configuration, the cluster network that launches it, and the roster."""

    def __init__(self, scope: Construct, id: str, props: ClusterNetworkProps) -> None:
        super().__init__(scope, id)
        stack, count = props.plan[0].stack, len(props.plan)
        tags = {"gpuform-stack": stack}
        self.roster = Roster(self, "roster", props.boot)
        self.configuration = self._configuration(props)
        self.network = oci.CoreClusterNetwork(
            self,
            "rdma",
            oci.CoreClusterNetworkArgs(
                compartment_id=props.compartment_id,
                instance_pools=[
                    oci.ClusterNetworkInstancePool(
                        instance_configuration_id=self.configuration.id,
                        size=count,
                        display_name=f"{stack}-nodes",
                        freeform_tags=tags,
                    )
                ],
                placement_configuration=oci.ClusterNetworkPlacement(
                    availability_domain=props.availability_domain,
                    primary_subnet_id=props.subnet_id,
                ),
                display_name=f"{stack}-rdma",
                freeform_tags=tags,
                timeouts=oci.Timeouts(create=create_timeout(count)),
            ),
        )
        members = oci.CoreClusterNetworkInstances(
            self,
            "members",
            oci.CoreClusterNetworkInstancesArgs(
                cluster_network_id=self.network.id,
                compartment_id=props.compartment_id,
            ),
            # element() wraps around: with one instance missing (OCI replacing it), index
            # count-1 would silently name index 0's instance. Stop instead.
            postconditions=[
                Condition(
                    condition=f"${{length(self.instances) == {count}}}",
                    error_message=(
                        f"The cluster network must have {count} instances for the roster; "
                        "wait until OCI has replaced any instance it is replacing, then apply "
                        "again."
                    ),
                )
            ],
        )
        self.instances: Sequence[oci.NodeInstance] = [
            oci.CoreInstanceLookup(
                self, f"node_{i}", oci.CoreInstanceLookupArgs(instance_id=members.sorted_id(i))
            )
            for i in range(count)
        ]
        """The pool's instances in roster order: index i is the node that reads index i."""
        self.roster.write(self.instances, guards=[self._same_members(members)])

    def _same_members(self, members: oci.CoreClusterNetworkInstances) -> Condition:
        """Refuse a roster over instances other than those the nodes took their indices from.

        A node reads the roster once, at first boot. Once OCI replaces an instance, the new
        OCID sorts anywhere, and a new roster would move indices under running nodes (two
        heads, say). The first members are kept in state (input ignored after create, renewed
        only with the cluster network itself), and the roster is written only over them.
        """
        current = f"sort({members.fqn}.instances[*].id)"
        first = TerraformData(
            self,
            "first_members",
            TerraformDataArgs(input=f"${{{current}}}"),
            ignore_changes=("input",),
            replace_triggered_by=(f"{self.network.address}.id",),
        )
        return Condition(
            condition=f'${{join(",", {current}) == join(",", {first.output})}}',
            error_message=(
                "The cluster network's instances are no longer the ones its nodes took their "
                "indices from at first boot (OCI replaced one), and a new roster would move "
                "indices under running nodes. Replace the cluster network as a whole: "
                f"terraform apply -replace={self.network.address}"
            ),
        )

    def _configuration(self, props: ClusterNetworkProps) -> oci.CoreInstanceConfiguration:
        stack, shape = props.plan[0].stack, props.nodes.shape_info
        metadata = node_metadata.pool_metadata(
            stack=stack,
            node_count=len(props.plan),
            user_data_b64=props.user_data_b64,
            values=replace(props.values, roster_url=self.roster.url),
        )
        launch = oci.InstanceConfigurationLaunchDetails(
            availability_domain=props.availability_domain,
            compartment_id=props.compartment_id,
            shape=shape.name,
            fault_domain=props.nodes.fault_domain,
            create_vnic_details=oci.InstanceConfigurationVnicDetails(
                subnet_id=props.subnet_id, assign_public_ip=False, nsg_ids=[props.nsg_id]
            ),
            source_details=oci.InstanceConfigurationSourceDetails(
                image_id=props.image_id,
                boot_volume_size_in_gbs=str(props.nodes.boot_volume_gb),
                boot_volume_vpus_per_gb=str(props.nodes.boot_volume_vpus_per_gb),
            ),
            metadata=metadata,
            agent_config=props.agent_config,
            # As on single instances (GpuNodes): VMs encrypt paravirtualized attachments in
            # transit; bare metal boots over iSCSI, where the option does not apply.
            is_pv_encryption_in_transit_enabled=None if shape.bare_metal else True,
            freeform_tags={"gpuform-stack": stack},
        )
        return oci.CoreInstanceConfiguration(
            self,
            "config",
            oci.CoreInstanceConfigurationArgs(
                compartment_id=props.compartment_id,
                instance_details=oci.InstanceConfigurationDetails(launch_details=launch),
                display_name=f"{stack}-nodes",
                freeform_tags={"gpuform-stack": stack},
            ),
            ignore_changes=oci.IGNORE_CONFIGURATION_IMAGE_DRIFT if props.ignore_image_drift else (),
            # Any change replaces the configuration, and OCI refuses (409) to delete one a pool
            # still uses: the new one must exist, and the pool point to it, before the old one
            # goes (oracle/terraform-provider-oci issues #989 and #1574, oci-hpc issue #11).
            create_before_destroy=True,
        )
