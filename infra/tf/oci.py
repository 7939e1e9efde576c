"""Typed OCI resources and data sources that gpuform emits (provider oracle/oci).

Field names are Terraform argument names, checked against the provider schema in
infra/tf/schema/oci.json by the tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from .resources import Args, DataSource, Resource

PROVIDER_SOURCE = "oracle/oci"
PROVIDER_VERSION = ">= 7.19.0"


# --- blocks shared by several types -------------------------------------------------------


@dataclass(frozen=True)
class PortRange(Args):
    min: int
    max: int


@dataclass(frozen=True)
class IcmpOptions(Args):
    type: int
    code: int | None = None


@dataclass(frozen=True)
class Filter(Args):
    name: str
    values: Sequence[str]
    regex: bool | None = None


@dataclass(frozen=True)
class Timeouts(Args):
    """How long Terraform waits on an operation ("30m", "2h"); the provider's own defaults
    apply where None. Every OCI resource's schema carries this block."""

    create: str | None = None
    update: str | None = None
    delete: str | None = None


# --- networking ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CoreVcnArgs(Args):
    compartment_id: str
    cidr_blocks: Sequence[str]
    display_name: str | None = None
    dns_label: str | None = None
    freeform_tags: Mapping[str, str] | None = None


class CoreVcn(Resource[CoreVcnArgs]):
    tf_type = "oci_core_vcn"


@dataclass(frozen=True)
class GatewayArgs(Args):
    compartment_id: str
    vcn_id: str
    display_name: str | None = None
    freeform_tags: Mapping[str, str] | None = None


class CoreInternetGateway(Resource[GatewayArgs]):
    tf_type = "oci_core_internet_gateway"


class CoreNatGateway(Resource[GatewayArgs]):
    tf_type = "oci_core_nat_gateway"


@dataclass(frozen=True)
class ServiceGatewayService(Args):
    service_id: str


@dataclass(frozen=True)
class CoreServiceGatewayArgs(Args):
    compartment_id: str
    vcn_id: str
    services: ServiceGatewayService
    display_name: str | None = None
    freeform_tags: Mapping[str, str] | None = None


class CoreServiceGateway(Resource[CoreServiceGatewayArgs]):
    tf_type = "oci_core_service_gateway"


@dataclass(frozen=True)
class RouteRule(Args):
    network_entity_id: str
    destination: str
    destination_type: str = "CIDR_BLOCK"
    description: str | None = None


@dataclass(frozen=True)
class CoreRouteTableArgs(Args):
    compartment_id: str
    vcn_id: str
    route_rules: Sequence[RouteRule]
    display_name: str | None = None
    freeform_tags: Mapping[str, str] | None = None


class CoreRouteTable(Resource[CoreRouteTableArgs]):
    tf_type = "oci_core_route_table"


@dataclass(frozen=True)
class SecurityListTcpOptions(Args):
    min: int
    max: int


@dataclass(frozen=True)
class EgressSecurityRule(Args):
    destination: str
    protocol: str
    destination_type: str = "CIDR_BLOCK"
    description: str | None = None


@dataclass(frozen=True)
class IngressSecurityRule(Args):
    source: str
    protocol: str
    source_type: str = "CIDR_BLOCK"
    description: str | None = None
    tcp_options: SecurityListTcpOptions | None = None
    icmp_options: IcmpOptions | None = None


@dataclass(frozen=True)
class CoreSecurityListArgs(Args):
    compartment_id: str
    vcn_id: str
    egress_security_rules: Sequence[EgressSecurityRule]
    ingress_security_rules: Sequence[IngressSecurityRule]
    display_name: str | None = None
    freeform_tags: Mapping[str, str] | None = None


class CoreSecurityList(Resource[CoreSecurityListArgs]):
    tf_type = "oci_core_security_list"


@dataclass(frozen=True)
class CoreSubnetArgs(Args):
    compartment_id: str
    vcn_id: str
    cidr_block: str
    display_name: str | None = None
    dns_label: str | None = None
    prohibit_public_ip_on_vnic: bool | None = None
    route_table_id: str | None = None
    security_list_ids: Sequence[str] | None = None
    freeform_tags: Mapping[str, str] | None = None


class CoreSubnet(Resource[CoreSubnetArgs]):
    tf_type = "oci_core_subnet"


@dataclass(frozen=True)
class CoreNetworkSecurityGroupArgs(Args):
    compartment_id: str
    vcn_id: str
    display_name: str | None = None
    freeform_tags: Mapping[str, str] | None = None


class CoreNetworkSecurityGroup(Resource[CoreNetworkSecurityGroupArgs]):
    tf_type = "oci_core_network_security_group"


@dataclass(frozen=True)
class NsgTcpOptions(Args):
    destination_port_range: PortRange | None = None
    source_port_range: PortRange | None = None


@dataclass(frozen=True)
class NsgUdpOptions(Args):
    destination_port_range: PortRange | None = None
    source_port_range: PortRange | None = None


@dataclass(frozen=True)
class CoreNsgRuleArgs(Args):
    network_security_group_id: str
    direction: str
    protocol: str
    description: str | None = None
    source: str | None = None
    source_type: str | None = None
    destination: str | None = None
    destination_type: str | None = None
    stateless: bool | None = None
    tcp_options: NsgTcpOptions | None = None
    udp_options: NsgUdpOptions | None = None
    icmp_options: IcmpOptions | None = None


class CoreNsgRule(Resource[CoreNsgRuleArgs]):
    tf_type = "oci_core_network_security_group_security_rule"


# --- file storage (infra/constructs/file_storage.py) ---------------------------------------


@dataclass(frozen=True)
class FileStorageFileSystemArgs(Args):
    availability_domain: str
    compartment_id: str
    display_name: str | None = None
    freeform_tags: Mapping[str, str] | None = None


class FileStorageFileSystem(Resource[FileStorageFileSystemArgs]):
    """An NFS file system that grows with what it holds; there is no size to provision
    (oracle/terraform-provider-oci website/docs/r/file_storage_file_system.html.markdown)."""

    tf_type = "oci_file_storage_file_system"


@dataclass(frozen=True)
class FileStorageMountTargetArgs(Args):
    availability_domain: str
    compartment_id: str
    subnet_id: str
    display_name: str | None = None
    hostname_label: str | None = None
    nsg_ids: Sequence[str] | None = None
    freeform_tags: Mapping[str, str] | None = None


class FileStorageMountTarget(Resource[FileStorageMountTargetArgs]):
    """The NFS endpoint in a subnet, with its own export set (oracle/terraform-provider-oci
    website/docs/r/file_storage_mount_target.html.markdown)."""

    tf_type = "oci_file_storage_mount_target"

    @property
    def export_set_id(self) -> str:
        return self.attr("export_set_id")

    @property
    def first_private_ip_id(self) -> str:
        """The OCID of its (first) private IP; the address itself is a CorePrivateIp lookup."""
        return self.attr("private_ip_ids[0]")


@dataclass(frozen=True)
class ExportClientOptions(Args):
    source: str
    access: str | None = None
    identity_squash: str | None = None
    require_privileged_source_port: bool | None = None


@dataclass(frozen=True)
class FileStorageExportArgs(Args):
    export_set_id: str
    file_system_id: str
    path: str
    export_options: Sequence[ExportClientOptions] | None = None


class FileStorageExport(Resource[FileStorageExportArgs]):
    """A file system exposed at `path` on a mount target, to the clients its options name
    (oracle/terraform-provider-oci website/docs/r/file_storage_export.html.markdown)."""

    tf_type = "oci_file_storage_export"


@dataclass(frozen=True)
class CorePrivateIpArgs(Args):
    private_ip_id: str


class CorePrivateIp(DataSource[CorePrivateIpArgs]):
    """One private IP by OCID: how a mount target's address is read, as the provider's FSS
    examples do (data "oci_core_private_ip" with private_ip_ids[0])."""

    tf_type = "oci_core_private_ip"

    @property
    def ip_address(self) -> str:
        return self.attr("ip_address")


# --- compute ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateVnicDetails(Args):
    subnet_id: str
    assign_public_ip: str | None = None
    nsg_ids: Sequence[str] | None = None
    hostname_label: str | None = None
    display_name: str | None = None


@dataclass(frozen=True)
class InstanceSourceDetails(Args):
    source_id: str
    source_type: str = "image"
    boot_volume_size_in_gbs: str | None = None
    boot_volume_vpus_per_gb: str | None = None


@dataclass(frozen=True)
class PluginConfig(Args):
    name: str
    desired_state: str


@dataclass(frozen=True)
class AgentConfig(Args):
    plugins_config: Sequence[PluginConfig]
    is_management_disabled: bool | None = None
    is_monitoring_disabled: bool | None = None


@dataclass(frozen=True)
class ShapeConfig(Args):
    ocpus: float
    memory_in_gbs: float


@dataclass(frozen=True)
class InstanceOptions(Args):
    are_legacy_imds_endpoints_disabled: bool


#: IMDS v1 answers any process without a header (SSRF-prone); gpuform's bootstrap uses v2 only.
IMDS_V2_ONLY = InstanceOptions(are_legacy_imds_endpoints_disabled=True)


@dataclass(frozen=True)
class CoreInstanceArgs(Args):
    availability_domain: str
    compartment_id: str
    shape: str
    create_vnic_details: CreateVnicDetails
    source_details: InstanceSourceDetails
    metadata: Mapping[str, str]
    display_name: str | None = None
    fault_domain: str | None = None
    agent_config: AgentConfig | None = None
    shape_config: ShapeConfig | None = None
    instance_options: InstanceOptions | None = IMDS_V2_ONLY
    is_pv_encryption_in_transit_enabled: bool | None = None
    """In-transit encryption of paravirtualized attachments, the boot volume's included: VMs
    attach so and set it; bare metal boots over iSCSI, where it does not apply. The instance's
    own argument: `launch_options.is_pv_encryption_in_transit_enabled` is deprecated at create
    time (oracle/terraform-provider-oci website/docs/r/core_instance.html.markdown)."""
    compute_cluster_id: str | None = None
    """RDMA placement: the compute cluster the instance joins (same compartment and AD)."""
    freeform_tags: Mapping[str, str] = field(default_factory=dict)


class CoreInstance(Resource[CoreInstanceArgs]):
    tf_type = "oci_core_instance"

    @property
    def private_ip(self) -> str:
        return self.attr("private_ip")

    @property
    def public_ip(self) -> str:
        return self.attr("public_ip")


@dataclass(frozen=True)
class CoreComputeClusterArgs(Args):
    availability_domain: str
    compartment_id: str
    display_name: str | None = None
    freeform_tags: Mapping[str, str] = field(default_factory=dict)


class CoreComputeCluster(Resource[CoreComputeClusterArgs]):
    """A group of bare-metal instances on one RDMA network block, launched one by one
    (oracle/terraform-provider-oci website/docs/r/core_compute_cluster.html.markdown)."""

    tf_type = "oci_core_compute_cluster"


class NodeInstance(Protocol):
    """A GPU node as Terraform references it: a managed instance, or one a data source reads
    (a cluster network's pool launches its own)."""

    @property
    def id(self) -> str: ...

    @property
    def private_ip(self) -> str: ...


# --- cluster networks: one instance pool on one RDMA network block -------------------------


@dataclass(frozen=True)
class InstanceConfigurationVnicDetails(Args):
    """The primary VNIC of each pool instance. No hostname_label: the pool launches every
    instance from this one block, so it cannot give each its own."""

    subnet_id: str
    assign_public_ip: bool | None = None
    nsg_ids: Sequence[str] | None = None


@dataclass(frozen=True)
class InstanceConfigurationSourceDetails(Args):
    image_id: str
    source_type: str = "image"
    boot_volume_size_in_gbs: str | None = None
    boot_volume_vpus_per_gb: str | None = None


@dataclass(frozen=True)
class InstanceConfigurationLaunchDetails(Args):
    """What CoreInstanceArgs says for one instance, said once for every instance of a pool."""

    availability_domain: str
    compartment_id: str
    shape: str
    create_vnic_details: InstanceConfigurationVnicDetails
    source_details: InstanceConfigurationSourceDetails
    metadata: Mapping[str, str]
    display_name: str | None = None
    fault_domain: str | None = None
    agent_config: AgentConfig | None = None
    instance_options: InstanceOptions | None = IMDS_V2_ONLY
    is_pv_encryption_in_transit_enabled: bool | None = None
    """As on CoreInstanceArgs: launch_details' own argument, not the deprecated
    launch_options one (oracle/terraform-provider-oci
    website/docs/r/core_instance_configuration.html.markdown)."""
    freeform_tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class InstanceConfigurationDetails(Args):
    launch_details: InstanceConfigurationLaunchDetails
    instance_type: str = "compute"


@dataclass(frozen=True)
class CoreInstanceConfigurationArgs(Args):
    compartment_id: str
    instance_details: InstanceConfigurationDetails
    # NONE: the settings below, not a copy of an existing instance.
    source: str = "NONE"
    display_name: str | None = None
    freeform_tags: Mapping[str, str] = field(default_factory=dict)


class CoreInstanceConfiguration(Resource[CoreInstanceConfigurationArgs]):
    """The template a pool launches its instances from (oracle/terraform-provider-oci
    website/docs/r/core_instance_configuration.html.markdown); none of its instance_details
    is updatable, so any change replaces it."""

    tf_type = "oci_core_instance_configuration"


#: A platform image newer than the one a pool launched from would replace the configuration,
#: the same drift IGNORE_IMAGE_DRIFT keeps off single instances (infra/constructs/images.py).
IGNORE_CONFIGURATION_IMAGE_DRIFT = (
    "instance_details[0].launch_details[0].source_details[0].image_id",
)


@dataclass(frozen=True)
class ClusterNetworkInstancePool(Args):
    instance_configuration_id: str
    size: int
    display_name: str | None = None
    freeform_tags: Mapping[str, str] | None = None


@dataclass(frozen=True)
class ClusterNetworkPlacement(Args):
    availability_domain: str
    primary_subnet_id: str


@dataclass(frozen=True)
class CoreClusterNetworkArgs(Args):
    compartment_id: str
    instance_pools: Sequence[ClusterNetworkInstancePool]
    placement_configuration: ClusterNetworkPlacement
    display_name: str | None = None
    freeform_tags: Mapping[str, str] = field(default_factory=dict)
    timeouts: Timeouts | None = None


class CoreClusterNetwork(Resource[CoreClusterNetworkArgs]):
    """An instance pool whose instances share one RDMA network block (oracle/terraform-provider-oci
    website/docs/r/core_cluster_network.html.markdown); one pool per cluster network."""

    tf_type = "oci_core_cluster_network"


@dataclass(frozen=True)
class CoreClusterNetworkInstancesArgs(Args):
    cluster_network_id: str
    compartment_id: str


class CoreClusterNetworkInstances(DataSource[CoreClusterNetworkInstancesArgs]):
    """The instances a cluster network's pool launched (oracle/terraform-provider-oci
    website/docs/d/core_cluster_network_instances.html.markdown), in no promised order."""

    tf_type = "oci_core_cluster_network_instances"

    def sorted_id(self, index: int) -> str:
        """The OCID at `index` of the instances sorted lexically: an order every read of the
        same instances gives again, whatever order OCI lists them in."""
        return f"${{element(sort({self.fqn}.instances[*].id), {index})}}"


@dataclass(frozen=True)
class CoreInstanceLookupArgs(Args):
    instance_id: str


class CoreInstanceLookup(DataSource[CoreInstanceLookupArgs]):
    """One instance by OCID (oracle/terraform-provider-oci
    website/docs/d/core_instance.html.markdown): how a pool instance's private IP is read."""

    tf_type = "oci_core_instance"

    @property
    def id(self) -> str:
        return self.attr("id")

    @property
    def private_ip(self) -> str:
        return self.attr("private_ip")


# --- network load balancer ----------------------------------------------------------------


@dataclass(frozen=True)
class NlbArgs(Args):
    compartment_id: str
    display_name: str
    subnet_id: str
    is_private: bool = False
    network_security_group_ids: Sequence[str] | None = None
    is_preserve_source_destination: bool | None = None
    freeform_tags: Mapping[str, str] | None = None


class NetworkLoadBalancer(Resource[NlbArgs]):
    tf_type = "oci_network_load_balancer_network_load_balancer"

    @property
    def public_ip(self) -> str:
        """Its public address. `ip_addresses` lists the private one too, in no promised order;
        each entry says `is_public` (oracle/terraform-provider-oci
        website/docs/r/network_load_balancer_network_load_balancer.html.markdown)."""
        return f"${{[for a in {self.fqn}.ip_addresses : a.ip_address if a.is_public][0]}}"


@dataclass(frozen=True)
class NlbHealthChecker(Args):
    protocol: str
    port: int | None = None
    url_path: str | None = None
    return_code: int | None = None
    interval_in_millis: int | None = None
    timeout_in_millis: int | None = None
    retries: int | None = None


@dataclass(frozen=True)
class NlbBackendSetArgs(Args):
    name: str
    network_load_balancer_id: str
    policy: str
    health_checker: NlbHealthChecker
    is_preserve_source: bool | None = None


class NlbBackendSet(Resource[NlbBackendSetArgs]):
    tf_type = "oci_network_load_balancer_backend_set"


@dataclass(frozen=True)
class NlbBackendArgs(Args):
    backend_set_name: str
    network_load_balancer_id: str
    port: int
    target_id: str | None = None
    ip_address: str | None = None
    name: str | None = None


class NlbBackend(Resource[NlbBackendArgs]):
    tf_type = "oci_network_load_balancer_backend"


@dataclass(frozen=True)
class NlbListenerArgs(Args):
    name: str
    network_load_balancer_id: str
    default_backend_set_name: str
    port: int
    protocol: str = "TCP"


class NlbListener(Resource[NlbListenerArgs]):
    tf_type = "oci_network_load_balancer_listener"


# --- identity -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DynamicGroupArgs(Args):
    compartment_id: str
    name: str
    description: str
    matching_rule: str


class IdentityDynamicGroup(Resource[DynamicGroupArgs]):
    tf_type = "oci_identity_dynamic_group"


@dataclass(frozen=True)
class PolicyArgs(Args):
    compartment_id: str
    name: str
    description: str
    statements: Sequence[str]


class IdentityPolicy(Resource[PolicyArgs]):
    tf_type = "oci_identity_policy"


# --- data sources -------------------------------------------------------------------------


@dataclass(frozen=True)
class AvailabilityDomainsArgs(Args):
    compartment_id: str


class AvailabilityDomains(DataSource[AvailabilityDomainsArgs]):
    tf_type = "oci_identity_availability_domains"

    def name(self, number: int) -> str:
        """The name of AD `number` (1-based), as OCI lists them."""
        return self.attr(f"availability_domains[{number - 1}].name")


@dataclass(frozen=True)
class IdentityTenancyArgs(Args):
    tenancy_id: str


class IdentityTenancy(DataSource[IdentityTenancyArgs]):
    tf_type = "oci_identity_tenancy"

    @property
    def home_region_key(self) -> str:
        """The home region's short key (IAD, FRA, ...): where IAM resources are created."""
        return self.attr("home_region_key")


@dataclass(frozen=True)
class IdentityRegionsArgs(Args):
    filter: Sequence[Filter] | None = None


class IdentityRegions(DataSource[IdentityRegionsArgs]):
    tf_type = "oci_identity_regions"

    @property
    def first_name(self) -> str:
        """The first listed region's name (us-ashburn-1)."""
        return self.attr("regions[0].name")


@dataclass(frozen=True)
class CoreImagesArgs(Args):
    compartment_id: str
    operating_system: str | None = None
    operating_system_version: str | None = None
    shape: str | None = None
    sort_by: str = "TIMECREATED"
    sort_order: str = "DESC"
    filter: Sequence[Filter] | None = None


class CoreImages(DataSource[CoreImagesArgs]):
    tf_type = "oci_core_images"

    @property
    def newest_id(self) -> str:
        return self.attr("images[0].id")


@dataclass(frozen=True)
class CoreServicesArgs(Args):
    filter: Sequence[Filter] | None = None


class CoreServices(DataSource[CoreServicesArgs]):
    tf_type = "oci_core_services"

    @property
    def first_id(self) -> str:
        return self.attr("services[0].id")

    @property
    def first_cidr(self) -> str:
        return self.attr("services[0].cidr_block")


# --- object storage and block volumes (weight caches, docs/weights.md) ----------------------


@dataclass(frozen=True)
class ObjectStorageNamespaceArgs(Args):
    compartment_id: str | None = None


class ObjectStorageNamespace(DataSource[ObjectStorageNamespaceArgs]):
    """The tenancy's Object Storage namespace (oracle/terraform-provider-oci
    website/docs/d/objectstorage_namespace.html.markdown)."""

    tf_type = "oci_objectstorage_namespace"

    @property
    def namespace(self) -> str:
        return self.attr("namespace")


@dataclass(frozen=True)
class ObjectStorageBucketLookupArgs(Args):
    name: str
    namespace: str


class ObjectStorageBucketLookup(DataSource[ObjectStorageBucketLookupArgs]):
    """An existing bucket, read at plan time (oracle/terraform-provider-oci
    website/docs/d/objectstorage_bucket.html.markdown): a missing one stops the plan."""

    tf_type = "oci_objectstorage_bucket"

    @property
    def name(self) -> str:
        return self.attr("name")


@dataclass(frozen=True)
class ObjectStorageBucketArgs(Args):
    compartment_id: str
    name: str
    namespace: str
    # NoPublicAccess is the provider's default; spelt out because it is the point.
    access_type: str = "NoPublicAccess"
    storage_tier: str = "Standard"
    versioning: str | None = None
    freeform_tags: Mapping[str, str] | None = None


class ObjectStorageBucket(Resource[ObjectStorageBucketArgs]):
    """A bucket (oracle/terraform-provider-oci
    website/docs/r/objectstorage_bucket.html.markdown)."""

    tf_type = "oci_objectstorage_bucket"

    @property
    def name(self) -> str:
        return self.attr("name")


@dataclass(frozen=True)
class ObjectStoragePreauthRequestArgs(Args):
    access_type: str
    bucket: str
    name: str
    namespace: str
    time_expires: str
    bucket_listing_action: str | None = None
    object_name: str | None = None
    """One object (or a prefix) rather than the bucket; `object` is its deprecated spelling."""


class ObjectStoragePreauthRequest(Resource[ObjectStoragePreauthRequestArgs]):
    """A pre-authenticated request (oracle/terraform-provider-oci
    website/docs/r/objectstorage_preauthrequest.html.markdown): its `access_uri` is appended
    to https://objectstorage.REGION.oraclecloud.com, as the provider's own example does
    (docs/examples/object_storage/preauthrequest.tf)."""

    tf_type = "oci_objectstorage_preauthrequest"

    @property
    def access_uri(self) -> str:
        return self.attr("access_uri")


@dataclass(frozen=True)
class ObjectStorageObjectArgs(Args):
    bucket: str
    namespace: str
    object: str
    content: str
    content_type: str | None = None


class ObjectStorageObject(Resource[ObjectStorageObjectArgs]):
    """One object whose content Terraform writes (oracle/terraform-provider-oci
    website/docs/r/objectstorage_object.html.markdown); a new content replaces it."""

    tf_type = "oci_objectstorage_object"

    @property
    def object(self) -> str:
        """Its name, as a reference: what names it waits for it."""
        return self.attr("object")


@dataclass(frozen=True)
class VolumeSourceDetails(Args):
    type: str
    id: str


@dataclass(frozen=True)
class CoreVolumeArgs(Args):
    availability_domain: str
    compartment_id: str
    display_name: str | None = None
    size_in_gbs: str | None = None
    vpus_per_gb: str | None = None
    source_details: VolumeSourceDetails | None = None
    freeform_tags: Mapping[str, str] | None = None


class CoreVolume(Resource[CoreVolumeArgs]):
    """A block volume, empty or restored from a backup (oracle/terraform-provider-oci
    website/docs/r/core_volume.html.markdown, source_details type volumeBackup)."""

    tf_type = "oci_core_volume"


@dataclass(frozen=True)
class CoreVolumeAttachmentArgs(Args):
    attachment_type: str
    instance_id: str
    volume_id: str
    device: str | None = None
    display_name: str | None = None
    is_read_only: bool | None = None
    is_shareable: bool | None = None
    is_agent_auto_iscsi_login_enabled: bool | None = None
    is_pv_encryption_in_transit_enabled: bool | None = None


class CoreVolumeAttachment(Resource[CoreVolumeAttachmentArgs]):
    """One instance's attachment of a volume (oracle/terraform-provider-oci
    website/docs/r/core_volume_attachment.html.markdown)."""

    tf_type = "oci_core_volume_attachment"
