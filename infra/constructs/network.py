"""Network: VCN, public and private subnets, gateways, route tables and NSGs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network

from ..tf import oci
from ..tf.cdk import Construct

_ALL_ORACLE_SERVICES = r"All .* Services In Oracle Services Network"
_ANYWHERE = "0.0.0.0/0"
_TCP = "6"
_ICMP = "1"


@dataclass(frozen=True)
class NetworkProps:
    """What the network needs to know: ranges, who may come in, and the ports to open."""

    name: str
    compartment_id: str
    vcn_cidr: IPv4Network
    public_subnet_cidr: IPv4Network
    private_subnet_cidr: IPv4Network
    ssh_allowed_cidrs: Sequence[IPv4Network]
    api_allowed_cidrs: Sequence[IPv4Network]
    api_port: int | None
    """The public API's port; None: nothing is served (a training cluster)."""


class Network(Construct):
    """A VCN with a public subnet (endpoint, bastion) and a private subnet (GPU nodes).

    Subnets get our own security list instead of the VCN default, whose SSH-from-anywhere rule
    we never want; per-role access lives in NSGs.
    """

    def __init__(self, scope: Construct, id: str, props: NetworkProps) -> None:
        super().__init__(scope, id)
        self.props = props
        self.vcn = oci.CoreVcn(
            self,
            "vcn",
            oci.CoreVcnArgs(
                compartment_id=props.compartment_id,
                cidr_blocks=[str(props.vcn_cidr)],
                display_name=f"{props.name}-vcn",
                dns_label=_dns_label(props.name),
            ),
        )
        public_rt, private_rt = self._route_tables()
        baseline = self._baseline_security_list()
        self.public_subnet = self._subnet("public", props.public_subnet_cidr, public_rt, baseline)
        self.private_subnet = self._subnet(
            "private", props.private_subnet_cidr, private_rt, baseline
        )
        self._nsgs()

    def _route_tables(self) -> tuple[oci.CoreRouteTable, oci.CoreRouteTable]:
        """Public: the internet gateway. Private: NAT, plus the service gateway for OCI services."""
        c, n, vcn_id = self.props.compartment_id, self.props.name, self.vcn.id
        igw = oci.CoreInternetGateway(
            self, "igw", oci.GatewayArgs(compartment_id=c, vcn_id=vcn_id, display_name=f"{n}-igw")
        )
        nat = oci.CoreNatGateway(
            self, "nat", oci.GatewayArgs(compartment_id=c, vcn_id=vcn_id, display_name=f"{n}-nat")
        )
        services = oci.CoreServices(
            self,
            "oracle_services",
            oci.CoreServicesArgs(
                filter=[oci.Filter(name="name", values=[_ALL_ORACLE_SERVICES], regex=True)]
            ),
        )
        sgw = oci.CoreServiceGateway(
            self,
            "sgw",
            oci.CoreServiceGatewayArgs(
                compartment_id=c,
                vcn_id=vcn_id,
                services=oci.ServiceGatewayService(service_id=services.first_id),
                display_name=f"{n}-sgw",
            ),
        )
        public = self._route_table(
            "public", [oci.RouteRule(network_entity_id=igw.id, destination=_ANYWHERE)]
        )
        # Private nodes reach the internet (images, packages) through NAT, and Object Storage
        # through the service gateway so weight pulls stay on Oracle's network.
        private = self._route_table(
            "private",
            [
                oci.RouteRule(network_entity_id=nat.id, destination=_ANYWHERE),
                oci.RouteRule(
                    network_entity_id=sgw.id,
                    destination=services.first_cidr,
                    destination_type="SERVICE_CIDR_BLOCK",
                ),
            ],
        )
        return public, private

    def _route_table(self, role: str, rules: list[oci.RouteRule]) -> oci.CoreRouteTable:
        return oci.CoreRouteTable(
            self,
            f"{role}_rt",
            oci.CoreRouteTableArgs(
                compartment_id=self.props.compartment_id,
                vcn_id=self.vcn.id,
                display_name=f"{self.props.name}-{role}",
                route_rules=rules,
            ),
        )

    def _baseline_security_list(self) -> oci.CoreSecurityList:
        return oci.CoreSecurityList(
            self,
            "baseline",
            oci.CoreSecurityListArgs(
                compartment_id=self.props.compartment_id,
                vcn_id=self.vcn.id,
                display_name=f"{self.props.name}-baseline",
                egress_security_rules=[
                    oci.EgressSecurityRule(destination=_ANYWHERE, protocol="all")
                ],
                # Nothing else comes in through the subnets' list: OCI admits a packet that any
                # security list or NSG rule admits, so a VCN-wide rule here would open every
                # port of every VNIC in the subnet (the File Storage mount target's included)
                # whatever its NSG says. Each role's NSG admits exactly its own traffic; the
                # GPU nodes' admits the VCN for Ray, NCCL, SSH from the bastion and the load
                # balancer's health checks.
                ingress_security_rules=[
                    # Path MTU discovery: without it large responses stall behind some links.
                    oci.IngressSecurityRule(
                        source=_ANYWHERE,
                        protocol=_ICMP,
                        icmp_options=oci.IcmpOptions(type=3, code=4),
                        description="path MTU discovery",
                    ),
                ],
            ),
        )

    def _subnet(
        self,
        role: str,
        cidr: IPv4Network,
        route_table: oci.CoreRouteTable,
        security_list: oci.CoreSecurityList,
    ) -> oci.CoreSubnet:
        return oci.CoreSubnet(
            self,
            role,
            oci.CoreSubnetArgs(
                compartment_id=self.props.compartment_id,
                vcn_id=self.vcn.id,
                cidr_block=str(cidr),
                display_name=f"{self.props.name}-{role}",
                dns_label=role,
                prohibit_public_ip_on_vnic=role == "private",
                route_table_id=route_table.id,
                security_list_ids=[security_list.id],
            ),
        )

    def _nsgs(self) -> None:
        """Per-role NSGs: SSH to the bastion, the API to the endpoint, from allowed ranges only."""
        p, n = self.props, self.props.name
        self.bastion_nsg = self._nsg("bastion_nsg", f"{n}-bastion")
        self.endpoint_nsg = self._nsg("endpoint_nsg", f"{n}-endpoint")
        self.node_nsg = self._nsg("node_nsg", f"{n}-gpu-nodes")
        for i, cidr in enumerate(p.ssh_allowed_cidrs):
            self._ingress(
                self.bastion_nsg, f"bastion_ssh_{i}", str(cidr), 22, "SSH from an allowed range"
            )
        api_port = p.api_port
        for i, cidr in enumerate(p.api_allowed_cidrs if api_port is not None else ()):
            assert api_port is not None  # never None here: None would open every port
            self._ingress(
                self.endpoint_nsg,
                f"endpoint_api_{i}",
                str(cidr),
                api_port,
                "API from an allowed range",
            )
        # GPU nodes talk freely inside the VCN (Ray, NCCL, the load balancer's health checks).
        self._ingress(
            self.node_nsg, "node_vcn", str(p.vcn_cidr), None, "all traffic inside the VCN"
        )
        for nsg, role in (
            (self.bastion_nsg, "bastion"),
            (self.endpoint_nsg, "endpoint"),
            (self.node_nsg, "node"),
        ):
            oci.CoreNsgRule(
                self,
                f"{role}_egress",
                oci.CoreNsgRuleArgs(
                    network_security_group_id=nsg.id,
                    direction="EGRESS",
                    protocol="all",
                    destination=_ANYWHERE,
                    destination_type="CIDR_BLOCK",
                    description="all egress",
                ),
            )

    def _nsg(self, id: str, display_name: str) -> oci.CoreNetworkSecurityGroup:
        return oci.CoreNetworkSecurityGroup(
            self,
            id,
            oci.CoreNetworkSecurityGroupArgs(
                compartment_id=self.props.compartment_id,
                vcn_id=self.vcn.id,
                display_name=display_name,
            ),
        )

    def _ingress(
        self,
        nsg: oci.CoreNetworkSecurityGroup,
        id: str,
        source: str,
        port: int | None,
        description: str,
    ) -> None:
        oci.CoreNsgRule(
            self,
            id,
            oci.CoreNsgRuleArgs(
                network_security_group_id=nsg.id,
                direction="INGRESS",
                protocol="all" if port is None else _TCP,
                source=source,
                source_type="CIDR_BLOCK",
                description=description,
                tcp_options=None
                if port is None
                else oci.NsgTcpOptions(destination_port_range=oci.PortRange(min=port, max=port)),
            ),
        )


def _dns_label(name: str) -> str:
    """OCI DNS labels: letters and digits, starting with a letter, at most 15 characters."""
    return "".join(ch for ch in name if ch.isalnum())[:15]
