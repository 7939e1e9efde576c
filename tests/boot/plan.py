"""What one booted node gets: its rendered cloud-config, NoCloud meta-data and IMDS document.

Everything comes from gpuform's own code: the cloud-config from infra.render, the metadata
keys and their shape from infra.node_metadata (the same call Terraform's NodeGroup makes), so
the harness never restates a key name. Apply-time values are fakes shaped like the real ones.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from ipaddress import IPv4Interface
from typing import Any

from infra import node_metadata
from infra.render.cloud_config import render_cloud_config, render_node_files
from infra.sizing import settings as sizing
from infra.specs import StackSpec
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
    user_data: str
    meta_data: str
    document: dict[str, Any]
    """The IMDS v2 instance document (GET /opc/v2/instance/)."""
    files: dict[str, str]
    """Rendered files the cloud-config writes: absolute path -> content."""
    os_note: str
    """How the booted image differs from the stack's, when it does."""

    @property
    def units(self) -> tuple[str, ...]:
        return tuple(sorted(p.rsplit("/", 1)[1] for p in self.files if p.endswith(".service")))

    @property
    def role(self) -> str:
        return "head" if self.index == self.head else f"worker of node {self.head}"


def booted_stack(stack: StackSpec) -> tuple[StackSpec, str]:
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


def addresses(stack: StackSpec, count: int) -> list[IPv4Interface]:
    """Private-subnet addresses for `count` nodes (OCI keeps the first few for itself)."""
    net = stack.deployment.private_subnet_cidr
    return [IPv4Interface(f"{net.network_address + 10 + i}/{net.prefixlen}") for i in range(count)]


def plan_stack(stack: StackSpec) -> list[NodePlan]:
    """One plan per node of `stack`, the head first."""
    booted, note = booted_stack(stack)
    settings = sizing.resolve(booted)
    # settings.nodes, as Terraform creates them: the planner may size a stack's count.
    count = settings.nodes
    addrs = addresses(booted, count)
    plans = []
    for index in range(count):
        head = settings.head_of(index)
        user_data = render_cloud_config(booted, index, settings)
        hostname = f"node{index}"
        values = node_metadata.ApplyTimeValues(
            ssh_authorized_keys=FAKE_SSH_KEY,
            api_key_secret_id=FAKE_SECRET_ID if booted.endpoint.require_api_key else "",
            # As Terraform sets it: workers get their replica head's private IP, a head "".
            head_ip="" if head == index else str(addrs[head].ip),
        )
        metadata = node_metadata.instance_metadata(
            stack=booted.name,
            node_index=index,
            node_count=count,
            user_data_b64=base64.b64encode(user_data.encode()).decode(),
            values=values,
        )
        instance_id = f"ocid1.instance.oc1.iad.gpuformboot{booted.name.replace('-', '')}{index}"
        plans.append(
            NodePlan(
                stack=booted.name,
                index=index,
                count=count,
                head=head,
                hostname=hostname,
                address=addrs[index],
                user_data=user_data,
                meta_data=f"instance-id: {instance_id}\nlocal-hostname: {hostname}\n",
                document=_document(booted, index, instance_id, hostname, dict(metadata)),
                files=render_node_files(booted, index, settings),
                os_note=note,
            )
        )
    return plans


def _document(
    stack: StackSpec, index: int, instance_id: str, hostname: str, metadata: dict[str, str]
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
