"""What "apply" fills in: computed values per resource type, as OCI would report them.

A registry: each type may add a filler that sees the planned values (unknowns still in place)
and the tenancy, and returns values for attributes; the generic pass then gives every remaining
unknown a value by name (id, state, time_created, region) or null, as terraform-plugin-sdk v2
stores an attribute the provider never set.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import world
from .schema import Attribute, Block
from .store import Tenancy
from .values import UNKNOWN, map_attributes


@dataclass
class Context:
    tf_type: str
    region: str
    tenancy: Tenancy
    creating: bool = True  # False for an in-place update: the object and its children exist
    # Objects the service creates along with this one (a pool's instances, a VNIC's private
    # IP): (kind, values); stored with this object as owner and deleted with it.
    children: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


Filler = Callable[[dict[str, Any], Context], dict[str, Any]]
FILLERS: dict[str, Filler] = {}

# The lifecycle state OCI reports once a create has finished, where it is not AVAILABLE.
STATES: Mapping[str, str] = {
    "oci_core_instance": "RUNNING",
    "oci_core_cluster_network": "RUNNING",
    "oci_network_load_balancer_network_load_balancer": "ACTIVE",
    "oci_network_load_balancer_backend_set": "ACTIVE",
    "oci_identity_dynamic_group": "ACTIVE",
    "oci_identity_policy": "ACTIVE",
    "oci_objectstorage_bucket": "ACTIVE",
    "oci_file_storage_mount_target": "ACTIVE",
    "oci_file_storage_file_system": "ACTIVE",
    "oci_file_storage_export": "ACTIVE",
    "oci_core_compute_cluster": "ACTIVE",
    "oci_vault_secret": "ACTIVE",
}


def filler(tf_type: str) -> Callable[[Filler], Filler]:
    def register(fn: Filler) -> Filler:
        FILLERS[tf_type] = fn
        return fn

    return register


def _first(values: Mapping[str, Any], block: str) -> dict[str, Any]:
    items = values.get(block) or []
    first = items[0] if isinstance(items, list) and items else items
    return dict(first) if isinstance(first, dict) else {}


def fill(
    block: Block,
    values: dict[str, Any],
    ctx: Context,
    quirks: Callable[[dict[str, Any]], dict[str, Any]] = lambda v: v,
) -> dict[str, Any]:
    """`values` with no unknown left: the type's filler (on create: what the service decides
    once, such as addresses and a pool's instances), then `quirks` (behaviour.json's values),
    then a generic value by attribute name."""
    known = dict(values)
    if known.get("id") is UNKNOWN:
        known["id"] = world.ocid(world.ocid_kind(ctx.tf_type), ctx.region)
    specific = FILLERS.get(ctx.tf_type)
    if specific is not None and ctx.creating:
        for name, value in specific(known, ctx).items():
            if known.get(name) is UNKNOWN:
                known[name] = value
    known = quirks(known)

    def generic(path: str, attribute: Attribute, value: Any, _other: Any) -> Any:
        if value is not UNKNOWN:
            return value
        name = path.rsplit(".", 1)[-1]
        if name == "state" and "." not in path:
            return STATES.get(ctx.tf_type, "AVAILABLE")
        if name == "time_created":
            return world.now()
        if name == "region":
            return ctx.region
        return None

    return map_attributes(block, known, None, generic)


@filler("oci_core_subnet")
def _subnet(values: dict[str, Any], ctx: Context) -> dict[str, Any]:
    import ipaddress

    network = ipaddress.ip_network(str(values["cidr_block"]), strict=False)
    return {
        "virtual_router_ip": str(network.network_address + 1),
        "virtual_router_mac": "00:00:17:B6:4D:DD",
        "subnet_domain_name": None,
    }


@filler("oci_core_vcn")
def _vcn(values: dict[str, Any], ctx: Context) -> dict[str, Any]:
    return {
        name: world.ocid(kind, ctx.region)
        for name, kind in (
            ("default_route_table_id", "routetable"),
            ("default_security_list_id", "securitylist"),
            ("default_dhcp_options_id", "dhcpoptions"),
        )
    }


@filler("oci_core_instance")
def _instance(values: dict[str, Any], ctx: Context) -> dict[str, Any]:
    vnic = _first(values, "create_vnic_details")
    private_ip = vnic.get("private_ip")
    if private_ip in (None, UNKNOWN):
        private_ip = ctx.tenancy.allocate_ip(vnic.get("subnet_id") or values.get("subnet_id"))
    # assign_public_ip is a string argument ("true"/"false") in the OCI provider; the default
    # follows the subnet: public unless the subnet prohibits public IPs.
    subnet = ctx.tenancy.get(vnic.get("subnet_id")) or {}
    wants_public = str(vnic.get("assign_public_ip") or "").lower()
    public = wants_public == "true" or (
        wants_public == "" and not subnet.get("prohibit_public_ip_on_vnic")
    )
    if values.get("create_vnic_details"):
        filled = dict(values["create_vnic_details"][0])
        if filled.get("private_ip") is UNKNOWN:
            filled["private_ip"] = private_ip
        values["create_vnic_details"] = [filled, *values["create_vnic_details"][1:]]
    return {
        "private_ip": private_ip,
        "public_ip": world.public_ip() if public else None,
        "boot_volume_id": world.ocid("bootvolume", ctx.region),
        "launch_mode": "NATIVE",
        "is_cross_numa_node": False,
    }


@filler("oci_file_storage_mount_target")
def _mount_target(values: dict[str, Any], ctx: Context) -> dict[str, Any]:
    # The mount target's VNIC gets a private IP object of its own in the subnet, readable by
    # data.oci_core_private_ip; it goes when the mount target goes.
    ip_id = world.ocid("privateip", ctx.region)
    address = values.get("ip_address")
    if address in (None, UNKNOWN):
        address = ctx.tenancy.allocate_ip(values.get("subnet_id"))
    ctx.children.append(("privateip", {
        "id": ip_id,
        "ip_address": address,
        "subnet_id": values.get("subnet_id"),
        "availability_domain": values.get("availability_domain"),
        "compartment_id": values.get("compartment_id"),
        "is_primary": True,
        "display_name": "mount target vnic",
    }))  # fmt: skip
    return {
        "private_ip_ids": [ip_id],
        "export_set_id": world.ocid("exportset", ctx.region),
        "ip_address": address,
    }


@filler("oci_network_load_balancer_network_load_balancer")
def _nlb(values: dict[str, Any], ctx: Context) -> dict[str, Any]:
    private = ctx.tenancy.allocate_ip(values.get("subnet_id"))
    addresses = [{"ip_address": private, "is_public": False, "ip_version": "IPV4"}]
    if not values.get("is_private"):
        addresses.append({"ip_address": world.public_ip(), "is_public": True, "ip_version": "IPV4"})
    return {
        "ip_addresses": [{**a, "reserved_ip": []} for a in addresses],
        "assigned_private_ipv4": private,
    }


@filler("oci_objectstorage_bucket")
def _bucket(values: dict[str, Any], ctx: Context) -> dict[str, Any]:
    return {"bucket_id": world.ocid("bucket", ctx.region), "etag": secrets.token_hex(16)}


@filler("oci_objectstorage_preauthrequest")
def _par(values: dict[str, Any], ctx: Context) -> dict[str, Any]:
    # GET /n/{ns}/b/{bucket}/p/ answers accessUri "/p/<token>/n/<ns>/b/<bucket>/o/<object>".
    token = secrets.token_urlsafe(48)
    target = values.get("object_name")
    target = values.get("object") if target in (None, UNKNOWN) else target
    target = "" if target in (None, UNKNOWN) else target
    where = f"/n/{values['namespace']}/b/{values['bucket']}/o/{target}"
    host = f"https://objectstorage.{ctx.region}.oraclecloud.com"
    return {
        "access_uri": f"/p/{token}{where}",
        "full_path": f"{host}/p/{token}{where}",
        "par_id": world.ocid("preauthrequest", ctx.region),
    }


@filler("oci_core_cluster_network")
def _cluster_network(values: dict[str, Any], ctx: Context) -> dict[str, Any]:
    # CreateClusterNetwork launches each pool's `size` instances from its instance
    # configuration, in the placement's primary subnet; ListClusterNetworkInstances lists them.
    placement = _first(values, "placement_configuration")
    subnet_id = placement.get("primary_subnet_id") or _first(placement, "primary_vnic_subnets").get(
        "subnet_id"
    )
    for pool in values.get("instance_pools") or []:
        config = ctx.tenancy.get(pool.get("instance_configuration_id")) or {}
        launch = _first(_first(config, "instance_details"), "launch_details")
        for _ in range(int(pool.get("size") or 0)):
            instance_id = world.ocid("instance", ctx.region)
            ctx.children.append(("instance", {
                "id": instance_id,
                "cluster_network_id": values["id"],
                "instance_configuration_id": pool.get("instance_configuration_id"),
                "availability_domain": placement.get("availability_domain"),
                "compartment_id": values.get("compartment_id"),
                "display_name": f"inst-{instance_id[-5:]}-{values.get('display_name') or 'pool'}",
                "shape": launch.get("shape"),
                "region": ctx.region,
                "state": "RUNNING",
                "time_created": world.now(),
                "private_ip": ctx.tenancy.allocate_ip(subnet_id),
                "public_ip": None,
                "subnet_id": subnet_id,
            }))  # fmt: skip
    return {"hpc_island_id": world.ocid("computehpcisland", ctx.region), "network_block_ids": []}
