"""What one booted node gets: its rendered cloud-config, NoCloud meta-data and IMDS document.

Everything comes from gpuform's node plan (infra.node_plan), the same plan Terraform's
NodeGroup reads: roles, heads, hostnames, metadata keys and the gzip user_data OCI would carry,
so the harness never restates a key name or decides a role. Apply-time values are fakes shaped
like the real ones.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from ipaddress import IPv4Interface
from typing import Any, overload

from infra import node_metadata
from infra.engines import driver
from infra.node_plan import plan_nodes
from infra.render.context import serve_inputs
from infra.sizing import settings as sizing
from infra.sizing.settings import EngineSettings
from infra.specs import AnyStack, StackSpec, TrainingStackSpec
from infra.specs.nodes import Image

#: The rootfs is Debian, so nodes boot the apt flavour of the bootstrap; an Oracle Linux
#: (dnf) stack is booted as if it named Canonical Ubuntu, every other setting unchanged.
BOOT_IMAGE = Image(operating_system="Canonical Ubuntu", operating_system_version="22.04")

FAKE_SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGdwdWZvcm0tYm9vdC1oYXJuZXNzLWZha2Uta2V5 boot"
FAKE_SECRET_ID = "ocid1.vaultsecret.oc1.iad.amaaaaaagpuformboottestfake"
FAKE_TENANCY = "ocid1.tenancy.oc1..aaaaaaaagpuformboottest"
FAKE_COMPARTMENT = "ocid1.compartment.oc1..aaaaaaaagpuformboottest"

# IMDS's "region" is the short key; only the canonical name is in a stack.
_REGION_KEYS = {"us-ashburn-1": "iad", "us-phoenix-1": "phx", "eu-frankfurt-1": "fra",
                "uk-london-1": "lhr", "us-chicago-1": "ord", "ap-tokyo-1": "nrt"}  # fmt: skip


@dataclass(frozen=True)
class NodePlan:
    """Everything the harness hands one node."""

    stack: str
    index: int
    count: int
    head: int
    """Index of the head of this node's replica (itself, on a head)."""
    hostname: str
    address: IPv4Interface
    role_name: str
    """head, or worker"""
    user_data: bytes
    """As shipped: the gzip cloud-config Terraform puts in metadata.user_data (base64 there)."""
    cloud_config: str
    meta_data: str
    document: dict[str, Any]
    """The IMDS v2 instance document (GET /opc/v2/instance/)."""
    files: dict[str, str]
    """Rendered files the cloud-config writes: absolute path -> content."""
    steps: tuple[str, ...]
    """The node plan's step units, in boot order."""
    os_note: str
    """How the booted image differs from the stack's, when it does."""
    vcn_cidr: str = ""
    served_ports: tuple[int, ...] = ()
    """TCP ports the VCN must reach on this node, decided apart from its firewall step: what
    its engine listens on and, on a head, the port the load balancer's backends target."""
    peers_all_tcp: bool = False
    """One of several nodes of a replica: its peers reach it on any TCP port from the VCN."""

    @property
    def units(self) -> tuple[str, ...]:
        return tuple(sorted(self.steps))

    @property
    def role(self) -> str:
        return "head" if self.role_name == "head" else f"worker of node {self.head}"


@overload
def booted_stack(stack: StackSpec) -> tuple[StackSpec, str]: ...
@overload
def booted_stack(stack: TrainingStackSpec) -> tuple[TrainingStackSpec, str]: ...
@overload
def booted_stack(stack: AnyStack) -> tuple[AnyStack, str]: ...
def booted_stack(stack: AnyStack) -> tuple[AnyStack, str]:
    """`stack` as the Debian rootfs can boot it, and a note when it had to change."""
    if stack.nodes.image.package_manager == "apt":
        return stack, ""
    nodes = stack.nodes.model_copy(update={"image": BOOT_IMAGE})
    note = (
        f"booted as {BOOT_IMAGE.operating_system} {BOOT_IMAGE.operating_system_version} (apt) "
        f"instead of {stack.nodes.image.operating_system} "
        f"{stack.nodes.image.operating_system_version}: the boot rootfs is Debian"
    )
    return stack.model_copy(update={"nodes": nodes}), note


def addresses(stack: AnyStack, count: int) -> list[IPv4Interface]:
    """Private-subnet addresses for `count` nodes (OCI keeps the first few for itself)."""
    net = stack.deployment.private_subnet_cidr
    return [IPv4Interface(f"{net.network_address + 10 + i}/{net.prefixlen}") for i in range(count)]


def plan_stack(stack: AnyStack, weights_url: str = "") -> list[NodePlan]:
    """One plan per node of `stack`, the head first; `weights_url` stands in for a PAR's."""
    booted, note = booted_stack(stack)
    settings = sizing.resolve(booted)
    nodes = plan_nodes(booted, settings)
    addrs = addresses(booted, len(nodes))
    plans = []
    for node in nodes:
        values = node_metadata.ApplyTimeValues(
            ssh_authorized_keys=FAKE_SSH_KEY,
            # As Terraform sets it: only an engine that checks a key gets a secret.
            api_key_secret_id=(
                FAKE_SECRET_ID if isinstance(booted, StackSpec) and booted.uses_api_key else ""
            ),
            # As Terraform sets it: workers get their replica head's private IP, a head "".
            head_ip="" if node.role == "head" else str(addrs[node.head].ip),
            weights_url=weights_url,
        )
        metadata = dict(node.metadata(values))
        instance_id = (
            f"ocid1.instance.oc1.iad.gpuformboot{booted.name.replace('-', '')}{node.index}"
        )
        plans.append(
            NodePlan(
                stack=booted.name,
                index=node.index,
                count=node.count,
                head=node.head,
                hostname=node.hostname,
                address=addrs[node.index],
                role_name=node.role,
                user_data=base64.b64decode(metadata[node_metadata.USER_DATA]),
                cloud_config=node.cloud_config,
                meta_data=f"instance-id: {instance_id}\nlocal-hostname: {node.hostname}\n",
                document=_document(booted, node.index, instance_id, node.hostname, metadata),
                files=node.files,
                steps=node.steps,
                os_note=note,
                vcn_cidr=str(booted.deployment.vcn_cidr),
                served_ports=_served_ports(booted, settings, node.index, node.serves_http),
                peers_all_tcp=settings.topology.nodes_per_replica > 1,
            )
        )
    return plans


def _served_ports(
    stack: AnyStack, settings: EngineSettings, index: int, serves_http: bool
) -> tuple[int, ...]:
    if not isinstance(stack, StackSpec):
        return ()
    ports = set(driver(stack.engine.kind).ports(serve_inputs(stack, index, settings)))
    if serves_http:
        ports.add(stack.engine.serve_port)  # the load balancer's backends and health check
    return tuple(sorted(ports))


def _document(
    stack: AnyStack, index: int, instance_id: str, hostname: str, metadata: dict[str, str]
) -> dict[str, Any]:
    region = stack.deployment.region
    ad = f"gpuf:{region.upper()}-AD-{stack.nodes.availability_domain}"
    return {
        "availabilityDomain": ad,
        "faultDomain": stack.nodes.fault_domain or "FAULT-DOMAIN-1",
        "compartmentId": FAKE_COMPARTMENT,
        "tenantId": FAKE_TENANCY,
        "displayName": f"{stack.name}-node-{index}",
        "hostname": hostname,
        "id": instance_id,
        "image": "ocid1.image.oc1.iad.aaaaaaaagpuformboottestimage",
        "region": _REGION_KEYS.get(region, region),
        "canonicalRegionName": region,
        "ociAdName": f"{_REGION_KEYS.get(region, region)}-ad-{stack.nodes.availability_domain}",
        "regionInfo": {
            "realmKey": "oc1",
            "realmDomainComponent": "oraclecloud.com",
            "regionKey": _REGION_KEYS.get(region, region).upper(),
            "regionIdentifier": region,
        },
        "shape": stack.nodes.shape,
        "state": "Running",
        "timeCreated": 1_700_000_000_000,
        "definedTags": {},
        "freeformTags": {},
        "metadata": metadata,
    }


def representatives(plans: list[NodePlan]) -> tuple[int, ...]:
    """The nodes a boot test needs of a stack: each replica's head and first worker, and the
    last node. Fifteen identical workers of a 16-node cluster add nothing but sixteen systemd
    containers on a two-core machine."""
    chosen = {plans[-1].index}
    for p in plans:
        if p.role_name == "head" or p.index == p.head + 1:
            chosen.add(p.index)
    return tuple(sorted(chosen))
