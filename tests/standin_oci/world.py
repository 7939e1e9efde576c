"""Plausible OCI facts the stand-in answers with: OCIDs, regions, availability domains, images,
the Oracle Services Network. Shapes follow the real API's answers (docs.oracle.com: "Resource
Identifiers", "Regions and Availability Domains", "Service Gateway"), values are made up.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from typing import Any

DEFAULT_REGION = "us-ashburn-1"

# (key, name) as `oci iam region list` prints them; the tenancy's home region is the first.
REGIONS: tuple[tuple[str, str], ...] = (
    ("IAD", "us-ashburn-1"),
    ("PHX", "us-phoenix-1"),
    ("FRA", "eu-frankfurt-1"),
    ("LHR", "uk-london-1"),
    ("NRT", "ap-tokyo-1"),
)
HOME_REGION_KEY = "IAD"

# Resource type -> the OCID's resource-type segment, where it differs from the type's last word.
OCID_KINDS: dict[str, str] = {
    "oci_core_vcn": "vcn",
    "oci_core_subnet": "subnet",
    "oci_core_internet_gateway": "internetgateway",
    "oci_core_nat_gateway": "natgateway",
    "oci_core_service_gateway": "servicegateway",
    "oci_core_route_table": "routetable",
    "oci_core_security_list": "securitylist",
    "oci_core_network_security_group": "networksecuritygroup",
    "oci_core_instance": "instance",
    "oci_core_instance_configuration": "instanceconfiguration",
    "oci_core_cluster_network": "clusternetwork",
    "oci_core_compute_cluster": "computecluster",
    "oci_file_storage_file_system": "filesystem",
    "oci_file_storage_mount_target": "mounttarget",
    "oci_file_storage_export": "export",
    "oci_identity_dynamic_group": "dynamicgroup",
    "oci_identity_policy": "policy",
    "oci_network_load_balancer_network_load_balancer": "networkloadbalancer",
    "oci_objectstorage_bucket": "bucket",
    "oci_vault_secret": "vaultsecret",
    "oci_core_volume": "volume",
    "oci_core_volume_attachment": "volumeattachment",
}
# Identity objects live in the tenancy, not a region: their OCIDs carry no region segment.
GLOBAL_KINDS = frozenset({"dynamicgroup", "policy", "tenancy"})


def ocid(kind: str, region: str = DEFAULT_REGION, seed: str | None = None) -> str:
    """A new OCID; with `seed`, the same one every time (for what a data source reads: an
    image or a service keeps its OCID between reads, or every plan would see a change)."""
    where = "" if kind in GLOBAL_KINDS else region
    unique = (
        secrets.token_hex(30)
        if seed is None
        else hashlib.sha256(f"{kind}/{region}/{seed}".encode()).hexdigest()[:60]
    )
    return f"ocid1.{kind}.oc1.{where}.{unique}"


def ocid_kind(tf_type: str) -> str:
    return OCID_KINDS.get(tf_type, tf_type.removeprefix("oci_").split("_")[-1])


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " +0000 UTC"


def region_key(region: str) -> str:
    return next((k for k, n in REGIONS if n == region), "IAD")


def availability_domains(region: str, compartment_id: str) -> list[dict[str, Any]]:
    # AD names carry a tenancy-specific prefix ("Uocm:US-ASHBURN-AD-1").
    return [
        {
            "compartment_id": compartment_id,
            "id": ocid("availabilitydomain", region, seed=str(n)),
            "name": f"Uocm:{region.upper()}-AD-{n}",
        }
        for n in (1, 2, 3)
    ]


def images(region: str, compartment_id: str, shape: str | None) -> list[dict[str, Any]]:
    """Platform images newest first: GPU shapes get the GPU build too, as the real list does."""
    names = ["Oracle-Linux-8.10-2025.11.20-0"]
    if shape and ".GPU" in shape:
        names.insert(0, "Oracle-Linux-8.10-Gen2-GPU-2025.11.20-0")
    return [
        {
            "compartment_id": None,
            "display_name": name,
            "id": ocid("image", region, seed=name),
            "operating_system": "Oracle Linux",
            "operating_system_version": "8",
            "state": "AVAILABLE",
            "launch_mode": "NATIVE",
            "time_created": "2025-11-20 10:00:00.000 +0000 UTC",
            "size_in_mbs": "47694",
            "listing_type": "NONE",
            "create_image_allowed": True,
        }
        for name in names
    ]


def services(region: str) -> list[dict[str, Any]]:
    key = region_key(region).lower()
    return [
        {
            "cidr_block": f"all-{key}-services-in-oracle-services-network",
            "description": f"All {key.upper()} Services In Oracle Services Network",
            "id": ocid("service", region, seed="all"),
            "name": f"All {key.upper()} Services In Oracle Services Network",
        },
        {
            "cidr_block": f"oci-{key}-objectstorage",
            "description": f"OCI {key.upper()} Object Storage",
            "id": ocid("service", region, seed="objectstorage"),
            "name": f"OCI {key.upper()} Object Storage",
        },
    ]


def public_ip() -> str:
    # 192.0.2.0/24 (TEST-NET-1, RFC 5737): never routed, so nothing real is ever reached.
    return f"192.0.2.{secrets.randbelow(250) + 2}"
