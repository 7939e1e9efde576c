"""GpuCluster: Network + NodeGroup + Endpoint + Bastion (+ instance access), composed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from ..engines import driver
from ..node_metadata import ApplyTimeValues
from ..node_plan import NodePlan
from ..specs import AnyStack, StackSpec
from ..tf import oci
from ..tf.cdk import Construct
from .access import InstanceAccess, InstanceAccessProps
from .bastion import Bastion, BastionProps
from .endpoint import Endpoint, EndpointProps
from .file_storage import SharedFileSystem, SharedFileSystemProps
from .network import Network, NetworkProps
from .node_group import NodeGroup, NodeGroupProps
from .weight_cache import WeightCache, WeightCacheProps


@dataclass(frozen=True)
class GpuClusterProps:
    """A stack spec, its resolved engine settings, and the Terraform variables' references."""

    stack: AnyStack
    plan: tuple[NodePlan, ...]
    tenancy_id: str
    compartment_id: str
    values: ApplyTimeValues
    """The Terraform variables every node's metadata carries (SSH keys, secret OCIDs; "" for a
    secret the stack does not use); the rest of the stack's apply-time values are added here."""
    provider_args: Mapping[str, str] = field(default_factory=dict)
    """The stack's provider settings; identity resources reuse them for the home region."""
    node_image_id: str | None = None
    """A custom image's OCID from a Terraform variable, when the stack names none itself."""


class GpuCluster(Construct):
    """Everything one deployment needs, wired together; exposes typed outputs."""

    def __init__(self, scope: Construct, id: str, props: GpuClusterProps) -> None:
        super().__init__(scope, id)
        spec, dep = props.stack, props.stack.deployment
        self._spec = spec
        c = props.compartment_id
        secrets = props.values
        ads = oci.AvailabilityDomains(self, "ads", oci.AvailabilityDomainsArgs(compartment_id=c))
        ad = ads.name(spec.nodes.availability_domain)
        serving = spec if isinstance(spec, StackSpec) else None
        self.network = Network(
            self,
            "network",
            NetworkProps(
                name=spec.name,
                compartment_id=c,
                vcn_cidr=dep.vcn_cidr,
                public_subnet_cidr=dep.public_subnet_cidr,
                private_subnet_cidr=dep.private_subnet_cidr,
                ssh_allowed_cidrs=dep.ssh_allowed_cidrs,
                api_allowed_cidrs=dep.api_allowed_cidrs,
                # A training cluster serves no API: no listener, no rule for one.
                api_port=serving.endpoint.port if serving else None,
            ),
        )
        weights = serving.weights if serving else None
        self.weights = (
            WeightCache(
                self,
                "weights",
                WeightCacheProps(name=spec.name, compartment_id=c, region=dep.region, spec=weights),
            )
            if weights
            else None
        )
        storage = spec.shared_storage
        self.shared_fs = (
            SharedFileSystem(
                self,
                "shared_fs",
                SharedFileSystemProps(
                    name=spec.name,
                    compartment_id=c,
                    availability_domain=ad,
                    vcn_id=self.network.vcn.id,
                    subnet_id=self.network.private_subnet.id,
                    clients_cidr=dep.private_subnet_cidr,
                    spec=storage,
                ),
            )
            if storage
            else None
        )
        self.nodes = NodeGroup(
            self,
            "nodes",
            NodeGroupProps(
                nodes=spec.nodes,
                plan=props.plan,
                placement=props.plan[0].placement,
                compartment_id=c,
                availability_domain=ad,
                subnet_id=self.network.private_subnet.id,
                nsg_id=self.network.node_nsg.id,
                values=replace(
                    props.values,
                    shared_fs_ip=self.shared_fs.ip if self.shared_fs else "",
                    weights_namespace=self.weights.namespace if self.weights else "",
                    weights_url=self.weights.par_url if self.weights else "",
                ),
                block_volumes=bool(weights and weights.volume),
                image_id=props.node_image_id,
                region=dep.region,
            ),
        )
        if self.weights:
            self.weights.attach(self.nodes.instances, ad, spec.nodes.shape_info.bare_metal)
        # After the nodes: the dynamic group admits exactly their OCIDs (in a cluster network,
        # as read back once the pool has launched them).
        self.access = (
            InstanceAccess(
                self,
                "access",
                InstanceAccessProps(
                    name=spec.name,
                    tenancy_id=props.tenancy_id,
                    compartment_id=c,
                    api_key_secret_id=secrets.api_key_secret_id or None,
                    hub_token_secret_id=secrets.hub_token_secret_id or None,
                    weights_bucket=self.weights.bucket_name if self.weights else None,
                    instance_ids=tuple(i.id for i in self.nodes.instances),
                    provider_args=props.provider_args,
                ),
            )
            if secrets.api_key_secret_id or secrets.hub_token_secret_id or self.weights
            else None
        )
        self.bastion = Bastion(
            self,
            "bastion",
            BastionProps(
                name=spec.name,
                compartment_id=c,
                availability_domain=ad,
                subnet_id=self.network.public_subnet.id,
                nsg_id=self.network.bastion_nsg.id,
                ssh_authorized_keys=secrets.ssh_authorized_keys,
            ),
        )
        # Each replica's head serves the API; its workers join it (Ray or SGLang's dist-init).
        self.endpoint = (
            Endpoint(
                self,
                "endpoint",
                EndpointProps(
                    name=spec.name,
                    compartment_id=c,
                    subnet_id=self.network.public_subnet.id,
                    nsg_id=self.network.endpoint_nsg.id,
                    listen_port=serving.endpoint.port,
                    health_path=driver(serving.engine.kind).health_path,
                    engine_port=serving.engine.serve_port,
                    health_timeout_ms=driver(serving.engine.kind).health_timeout_ms,
                    target_instance_ids=tuple(h.id for h in self.nodes.heads),
                ),
            )
            if serving
            else None
        )

    @property
    def node_user(self) -> str:
        """The login user of the GPU nodes' image."""
        return "ubuntu" if self._spec.nodes.image.operating_system == "Canonical Ubuntu" else "opc"
