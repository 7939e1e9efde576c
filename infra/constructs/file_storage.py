"""SharedFileSystem: an OCI File Storage file system, its mount target and export, NFS-only.

The mount target takes an address in the GPU nodes' private subnet (OCI suggests a subnet of
its own when addresses run short; the private /20 has room) with an NSG of its own that admits
NFS alone, from the nodes' range alone (the subnets' own security list admits nothing from the
VCN, infra/constructs/network.py, so this NSG is the only way in); the export admits the same
range, read-write or read-only. Nodes learn the mount
target's address at apply time through instance metadata (infra/node_metadata.py).

Sources: oracle/terraform-provider-oci website/docs/r/file_storage_file_system.html.markdown,
file_storage_mount_target.html.markdown (`private_ip_ids`), file_storage_export.html.markdown
(`export_options`); the ports from OCI's "Configuring VCN Security Rules for File Storage"
(docs.oracle.com/iaas/Content/File/Tasks/securitylistsfilestorage.htm); oci-hpc's fss.tf
(oracle-quickstart/oci-hpc) exports to the VCN READ_WRITE with identity_squash NONE too.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network
from typing import Literal

from ..specs.storage import SharedStorage
from ..tf import oci
from ..tf.cdk import Construct

IpProtocol = Literal["tcp", "udp"]
_PROTOCOL_NUMBER: dict[IpProtocol, str] = {"tcp": "6", "udp": "17"}

#: What a mount target serves, per OCI's security-rule page: rpcbind (111), MOUNT (2048),
#: NFS (2049) and NLM (2050) over TCP; rpcbind and MOUNT over UDP.
NFS_PORTS: tuple[tuple[IpProtocol, int, int], ...] = (
    ("tcp", 111, 111),
    ("tcp", 2048, 2050),
    ("udp", 111, 111),
    ("udp", 2048, 2048),
)
#: The source ports its replies and NLM callbacks leave from (the page's stateful egress rules).
NFS_REPLY_PORTS: tuple[tuple[IpProtocol, int, int], ...] = (
    ("tcp", 111, 111),
    ("tcp", 2048, 2050),
    ("udp", 111, 111),
)


@dataclass(frozen=True)
class SharedFileSystemProps:
    """Where the file system goes and who may mount it."""

    name: str
    compartment_id: str
    availability_domain: str
    vcn_id: str
    subnet_id: str
    """The GPU nodes' private subnet: the mount target takes an address there."""
    clients_cidr: IPv4Network
    """The nodes' range (the private subnet's CIDR): the only clients of export and NSG."""
    spec: SharedStorage


class SharedFileSystem(Construct):
    """File system + mount target (own NSG) + export; `ip` is the address nodes mount from."""

    def __init__(self, scope: Construct, id: str, props: SharedFileSystemProps) -> None:
        super().__init__(scope, id)
        self.props = props
        self.file_system = self._file_system()
        self.nsg = oci.CoreNetworkSecurityGroup(
            self,
            "nsg",
            oci.CoreNetworkSecurityGroupArgs(
                compartment_id=props.compartment_id,
                vcn_id=props.vcn_id,
                display_name=f"{props.name}-fss",
            ),
        )
        self._nfs_rules()
        self.mount_target = self._mount_target()
        self.export = self._export()
        # Read once the export exists, so instances (whose metadata carries this address) are
        # created after it and their first mount finds the export in place.
        self._address = oci.CorePrivateIp(
            self,
            "mount_target_ip",
            oci.CorePrivateIpArgs(private_ip_id=self.mount_target.first_private_ip_id),
            depends_on=[self.export],
        )

    def _file_system(self) -> oci.FileStorageFileSystem:
        p, spec = self.props, self.props.spec
        tags = {"gpuform-stack": p.name}
        if spec.size_hint_gb is not None:
            # File Storage has no size to provision; the hint is kept where operators look.
            tags["gpuform-size-hint-gb"] = str(spec.size_hint_gb)
        return oci.FileStorageFileSystem(
            self,
            "fs",
            oci.FileStorageFileSystemArgs(
                availability_domain=p.availability_domain,
                compartment_id=p.compartment_id,
                display_name=f"{p.name}-shared",
                freeform_tags=tags,
            ),
        )

    def _mount_target(self) -> oci.FileStorageMountTarget:
        p = self.props
        return oci.FileStorageMountTarget(
            self,
            "mount_target",
            oci.FileStorageMountTargetArgs(
                availability_domain=p.availability_domain,
                compartment_id=p.compartment_id,
                subnet_id=p.subnet_id,
                display_name=f"{p.name}-fss",
                # fss.<subnet>.<vcn>.oraclevcn.com for people; nodes use the IP from metadata.
                hostname_label="fss",
                nsg_ids=[self.nsg.id],
                freeform_tags={"gpuform-stack": p.name},
            ),
        )

    def _export(self) -> oci.FileStorageExport:
        spec = self.props.spec
        return oci.FileStorageExport(
            self,
            "export",
            oci.FileStorageExportArgs(
                export_set_id=self.mount_target.export_set_id,
                file_system_id=self.file_system.id,
                path=spec.export_path,
                # Unset, an export admits 0.0.0.0/0 read-write without squashing (provider
                # docs); spelled out, it admits the nodes' range and nothing else.
                export_options=[
                    oci.ExportClientOptions(
                        source=str(self.props.clients_cidr),
                        access="READ_ONLY" if spec.access == "read-only" else "READ_WRITE",
                        identity_squash="ROOT" if spec.root_squash else "NONE",
                        require_privileged_source_port=True,
                    )
                ],
            ),
        )

    @property
    def ip(self) -> str:
        """The mount target's private IP (a Terraform reference)."""
        return self._address.ip_address

    @property
    def export_path(self) -> str:
        return self.props.spec.export_path

    def _nfs_rules(self) -> None:
        clients = str(self.props.clients_cidr)
        for proto, low, high in NFS_PORTS:
            self._rule("INGRESS", proto, low, high, clients, f"NFS {proto} {low}-{high} from nodes")
        for proto, low, high in NFS_REPLY_PORTS:
            self._rule("EGRESS", proto, low, high, clients, f"NFS {proto} {low}-{high} to nodes")

    def _rule(
        self,
        direction: Literal["INGRESS", "EGRESS"],
        proto: IpProtocol,
        low: int,
        high: int,
        cidr: str,
        description: str,
    ) -> None:
        ports = oci.PortRange(min=low, max=high)
        ingress = direction == "INGRESS"
        # In, the NFS ports are the destination; out, they are where replies leave from.
        tcp = oci.NsgTcpOptions(
            destination_port_range=ports if ingress else None,
            source_port_range=None if ingress else ports,
        )
        udp = oci.NsgUdpOptions(
            destination_port_range=ports if ingress else None,
            source_port_range=None if ingress else ports,
        )
        oci.CoreNsgRule(
            self,
            f"{direction.lower()}_{proto}_{low}_{high}",
            oci.CoreNsgRuleArgs(
                network_security_group_id=self.nsg.id,
                direction=direction,
                protocol=_PROTOCOL_NUMBER[proto],
                description=description,
                source=cidr if ingress else None,
                source_type="CIDR_BLOCK" if ingress else None,
                destination=None if ingress else cidr,
                destination_type=None if ingress else "CIDR_BLOCK",
                tcp_options=tcp if proto == "tcp" else None,
                udp_options=udp if proto == "udp" else None,
            ),
        )
