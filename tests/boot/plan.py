"""What one booted node gets: its stage-0 user_data, NoCloud meta-data, IMDS document and the
bundle objects it fetches.

Everything comes from gpuform's node plan (infra.node_plan), the same plan Terraform's
NodeGroup reads: roles, heads, hostnames, metadata keys, the gzip user_data OCI would carry and
the bundles Terraform uploads, so the harness never restates a key name or decides a role.
Apply-time values are fakes shaped like the real ones: the bundles' and roster's URLs are
PAR-shaped URLs of the harness's Object Storage stand-in (tests/boot/objectstore.py).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from ipaddress import IPv4Interface
from typing import Any, overload

from infra import node_metadata
from infra.engines import driver
from infra.node_plan import NodePlan as InfraNodePlan
from infra.node_plan import plan_nodes, pool_stage0
from infra.render.bundle import Bundle
from infra.render.context import serve_inputs
from infra.sizing import settings as sizing
from infra.sizing.settings import StackSizes
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
    instance_id: str = ""
    roster: str = ""
    """A cluster network's roster, as Terraform writes it ("" elsewhere): the same on every node."""
    roster_url: str = ""
    objects: tuple[tuple[str, bytes], ...] = ()
    """The bundle objects it may fetch, as (URL path behind a PAR, content) pairs."""
    bundle_sha256: str = ""

    @property
    def vnics(self) -> list[dict[str, Any]]:
        """IMDS v2's /opc/v2/vnics/ for this node: its one (primary) VNIC, as OCI documents it
        ("Getting Instance Metadata")."""
        net = self.address.network
        return [
            {
                "vnicId": f"ocid1.vnic.oc1.iad.gpuformboot{self.index}",
                "privateIp": str(self.address.ip),
                "vlanTag": 0,
                "macAddr": f"02:00:17:00:{self.index // 256:02x}:{self.index % 256:02x}",
                "virtualRouterIp": str(net.network_address + 1),
                "subnetCidrBlock": str(net),
                "nicIndex": 0,
            }
        ]

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


def store_address(stack: AnyStack) -> IPv4Interface:
    """Where the Object Storage stand-in listens on the switch: the private subnet's
    second-last host (the weight bucket's bridge takes the last)."""
    net = stack.deployment.private_subnet_cidr
    return IPv4Interface(f"{net.broadcast_address - 2}/{net.prefixlen}")


STORE_PORT = 8080


def store_url(stack: AnyStack) -> str:
    return f"http://{store_address(stack).ip}:{STORE_PORT}"


def _object_path(stack: AnyStack, token: str, name: str) -> str:
    """An object's path as a PAR's access_uri spells it: each PAR has a token of its own."""
    return f"/p/{token}/n/gpuformboot/b/{stack.name}-boot/o/{name}"


def roster_object_path(stack: AnyStack) -> str:
    return _object_path(stack, "gpuform-boot-par-roster", "roster")


def bundle_object_path(stack: AnyStack, bundle: Bundle) -> str:
    return _object_path(stack, f"gpuform-boot-par-{bundle.sha256[:12]}", bundle.object_name)


def _objects(stack: AnyStack, bundles: tuple[Bundle, ...]) -> tuple[tuple[str, bytes], ...]:
    return tuple((bundle_object_path(stack, b), b.object_text.encode()) for b in bundles)


def _instance_id(stack: AnyStack, index: int) -> str:
    return f"ocid1.instance.oc1.iad.gpuformboot{stack.name.replace('-', '')}{index}"


def plan_stack(stack: AnyStack, weights_url: str = "", store: str = "") -> list[NodePlan]:
    """One plan per node of `stack`, the head first; `weights_url` stands in for a PAR's.

    Bundle URLs name the Object Storage stand-in at `store` (http://HOST:PORT, the harness's
    own by default; another, to show a bucket that cannot be reached). On a cluster network
    every node gets the same user_data and metadata, as an instance configuration gives them,
    and finds its index in the roster the harness serves.
    """
    booted, note = booted_stack(stack)
    settings = sizing.resolve(booted)
    nodes = plan_nodes(booted, settings)
    addrs = addresses(booted, len(nodes))
    store = store or store_url(booted)
    if nodes[0].placement == "cluster_network":
        return _pool_plans(booted, settings, nodes, addrs, weights_url, note, store)
    plans = []
    for node in nodes:
        objects = _objects(booted, (node.bundle,))
        values = node_metadata.ApplyTimeValues(
            ssh_authorized_keys=FAKE_SSH_KEY,
            # As Terraform sets it: only an engine that checks a key gets a secret.
            api_key_secret_id=(
                FAKE_SECRET_ID if isinstance(booted, StackSpec) and booted.uses_api_key else ""
            ),
            # As Terraform sets it: workers get their replica head's private IP, a head "".
            head_ip="" if node.role == "head" else str(addrs[node.head].ip),
            weights_url=weights_url,
            hub_token_secret_id=_hub_token_secret(booted),
            bundle_urls=" ".join(store + path for path, _ in objects),
        )
        metadata = dict(node.metadata(values))
        instance_id = _instance_id(booted, node.index)
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
                cloud_config=node.stage0.cloud_config,
                meta_data=f"instance-id: {instance_id}\nlocal-hostname: {node.hostname}\n",
                document=_document(booted, node.index, instance_id, node.hostname, metadata),
                files={**node.stage0.files_installed(), **node.files},
                steps=node.steps,
                os_note=note,
                vcn_cidr=str(booted.deployment.vcn_cidr),
                served_ports=_served_ports(booted, settings, node.index, node.serves_http),
                peers_all_tcp=settings.topology.nodes_per_replica > 1,
                instance_id=instance_id,
                objects=objects,
                bundle_sha256=node.bundle.sha256,
            )
        )
    return plans


def _pool_plans(
    stack: AnyStack,
    settings: StackSizes,
    nodes: tuple[InfraNodePlan, ...],
    addrs: list[IPv4Interface],
    weights_url: str,
    note: str,
    store: str,
) -> list[NodePlan]:
    url = store_url(stack) + roster_object_path(stack)
    stage0 = pool_stage0(nodes)
    b64 = stage0.user_data_b64
    objects = _objects(stack, stage0.bundles)
    values = node_metadata.ApplyTimeValues(
        ssh_authorized_keys=FAKE_SSH_KEY,
        api_key_secret_id=(
            FAKE_SECRET_ID if isinstance(stack, StackSpec) and stack.uses_api_key else ""
        ),
        head_ip="",
        weights_url=weights_url,
        roster_url=url,
        hub_token_secret_id=_hub_token_secret(stack),
        bundle_urls=" ".join(store + path for path, _ in objects),
    )
    metadata = dict(
        node_metadata.pool_metadata(
            stack=stack.name, node_count=len(nodes), user_data_b64=b64, values=values
        )
    )
    ids = [_instance_id(stack, n.index) for n in nodes]
    roster = "".join(f"{n.index} {ids[n.index]} {addrs[n.index].ip}\n" for n in nodes)
    bootstrap = stage0.files_installed()
    # An instance pool names its instances; gpuform cannot give them hostname labels.
    hostnames = [f"inst-{i:05d}-{stack.name}" for i in range(len(nodes))]
    return [
        NodePlan(
            stack=stack.name,
            index=n.index,
            count=n.count,
            head=n.head,
            hostname=hostnames[n.index],
            address=addrs[n.index],
            role_name=n.role,
            user_data=base64.b64decode(b64),
            cloud_config=stage0.cloud_config,
            meta_data=f"instance-id: {ids[n.index]}\nlocal-hostname: {hostnames[n.index]}\n",
            document=_document(stack, n.index, ids[n.index], hostnames[n.index], metadata),
            files={**bootstrap, **n.files},
            steps=n.steps,
            os_note=note,
            vcn_cidr=str(stack.deployment.vcn_cidr),
            served_ports=_served_ports(stack, settings, n.index, n.serves_http),
            peers_all_tcp=settings.topology.nodes_per_replica > 1,
            instance_id=ids[n.index],
            roster=roster,
            roster_url=url,
            objects=objects,
            bundle_sha256=n.bundle.sha256,
        )
        for n in nodes
    ]


def _hub_token_secret(stack: AnyStack) -> str:
    # As Terraform sets it: only a stack whose hub repo needs a token names a secret.
    return FAKE_SECRET_ID if isinstance(stack, StackSpec) and stack.uses_hub_token else ""


def _served_ports(
    stack: AnyStack, settings: StackSizes, index: int, serves_http: bool
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
