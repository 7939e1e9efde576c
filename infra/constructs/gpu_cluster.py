"""GpuCluster: Network + GpuNodes + ApiLoadBalancer + Bastion (+ instance access), composed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from ..engines import driver
from ..node_metadata import ApplyTimeValues
from ..node_plan import NodePlan
from ..specs import AnyStack, SharedStorage, StackSpec, WeightCache
from ..tf import oci
from ..tf.cdk import Construct
from .access import InstanceAccess, InstanceAccessProps
from .bastion import Bastion, BastionProps
from .file_storage import SharedFileSystem, SharedFileSystemProps
from .gpu_nodes import GpuNodes, GpuNodesProps
from .load_balancer import ApiLoadBalancer, ApiLoadBalancerProps
from .network import Network, NetworkProps
from .weight_store import WeightStore, WeightStoreProps


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
        spec = props.stack
        self._spec = spec
        self._props = props
        serving = spec if isinstance(spec, StackSpec) else None
        ads = oci.AvailabilityDomains(
            self, "ads", oci.AvailabilityDomainsArgs(compartment_id=props.compartment_id)
        )
        ad = ads.name(spec.nodes.availability_domain)
        self.network = self._network(serving)
        weights = serving.weights if serving else None
        self.weights = self._weight_store(weights) if weights else None
        storage = spec.shared_storage
        self.shared_fs = self._shared_fs(storage, ad) if storage else None
        self.nodes = self._gpu_nodes(ad, block_volumes=bool(weights and weights.volume))
        if self.weights:
            self.weights.attach(self.nodes.instances, ad, spec.nodes.shape_info.bare_metal)
        # After the nodes: the dynamic group admits exactly their OCIDs (in a cluster network,
        # as read back once the pool has launched them).
        self.access = self._instance_access()
        self.bastion = self._bastion(ad)
        # Each replica's head serves the API; its workers join it (Ray or SGLang's dist-init).
        self.endpoint = self._load_balancer(serving) if serving else None

    def _network(self, serving: StackSpec | None) -> Network:
        dep = self._spec.deployment
        return Network(
            self,
            "network",
            NetworkProps(
                name=self._spec.name,
                compartment_id=self._props.compartment_id,
                vcn_cidr=dep.vcn_cidr,
                public_subnet_cidr=dep.public_subnet_cidr,
                private_subnet_cidr=dep.private_subnet_cidr,
                ssh_allowed_cidrs=dep.ssh_allowed_cidrs,
                api_allowed_cidrs=dep.api_allowed_cidrs,
                # A training cluster serves no API: no listener, no rule for one.
                api_port=serving.endpoint.port if serving else None,
            ),
        )

    def _weight_store(self, weights: WeightCache) -> WeightStore:
        return WeightStore(
            self,
            "weights",
            WeightStoreProps(
                name=self._spec.name,
                compartment_id=self._props.compartment_id,
                region=self._spec.deployment.region,
                spec=weights,
            ),
        )

    def _shared_fs(self, storage: SharedStorage, ad: str) -> SharedFileSystem:
        return SharedFileSystem(
            self,
            "shared_fs",
            SharedFileSystemProps(
                name=self._spec.name,
                compartment_id=self._props.compartment_id,
                availability_domain=ad,
                vcn_id=self.network.vcn.id,
                subnet_id=self.network.private_subnet.id,
                clients_cidr=self._spec.deployment.private_subnet_cidr,
                spec=storage,
            ),
        )

    def _gpu_nodes(self, ad: str, *, block_volumes: bool) -> GpuNodes:
        props = self._props
        return GpuNodes(
            self,
            "nodes",
            GpuNodesProps(
                nodes=self._spec.nodes,
                plan=props.plan,
                placement=props.plan[0].placement,
                compartment_id=props.compartment_id,
                availability_domain=ad,
                subnet_id=self.network.private_subnet.id,
                nsg_id=self.network.node_nsg.id,
                values=replace(
                    props.values,
                    shared_fs_ip=self.shared_fs.ip if self.shared_fs else "",
                    weights_namespace=self.weights.namespace if self.weights else "",
                    weights_url=self.weights.par_url if self.weights else "",
                ),
                block_volumes=block_volumes,
                image_id=props.node_image_id,
                region=self._spec.deployment.region,
            ),
        )

    def _instance_access(self) -> InstanceAccess | None:
        """The dynamic group and policy, when the nodes read a secret or the weights bucket."""
        props, secrets = self._props, self._props.values
        if not (secrets.api_key_secret_id or secrets.hub_token_secret_id or self.weights):
            return None
        return InstanceAccess(
            self,
            "access",
            InstanceAccessProps(
                name=self._spec.name,
                tenancy_id=props.tenancy_id,
                compartment_id=props.compartment_id,
                api_key_secret_id=secrets.api_key_secret_id or None,
                hub_token_secret_id=secrets.hub_token_secret_id or None,
                weights_bucket=self.weights.bucket_name if self.weights else None,
                instance_ids=tuple(i.id for i in self.nodes.instances),
                provider_args=props.provider_args,
            ),
        )

    def _bastion(self, ad: str) -> Bastion:
        return Bastion(
            self,
            "bastion",
            BastionProps(
                name=self._spec.name,
                compartment_id=self._props.compartment_id,
                availability_domain=ad,
                subnet_id=self.network.public_subnet.id,
                nsg_id=self.network.bastion_nsg.id,
                ssh_authorized_keys=self._props.values.ssh_authorized_keys,
            ),
        )

    def _load_balancer(self, serving: StackSpec) -> ApiLoadBalancer:
        engine = driver(serving.engine.kind)
        return ApiLoadBalancer(
            self,
            "endpoint",
            ApiLoadBalancerProps(
                name=self._spec.name,
                compartment_id=self._props.compartment_id,
                subnet_id=self.network.public_subnet.id,
                nsg_id=self.network.endpoint_nsg.id,
                listen_port=serving.endpoint.port,
                health_path=engine.health_path,
                engine_port=serving.engine.serve_port,
                health_timeout_ms=engine.health_timeout_ms,
                target_instance_ids=tuple(h.id for h in self.nodes.heads),
            ),
        )

    @property
    def node_user(self) -> str:
        """The login user of the GPU nodes' image."""
        return "ubuntu" if self._spec.nodes.image.operating_system == "Canonical Ubuntu" else "opc"
