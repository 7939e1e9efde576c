"""Data sources: what each one reads from the stand-in's tenancy or its fixed facts.

A registry, type -> reader(config, context) -> computed values. A type without a reader is an
error the user sees (the stand-in does not invent data it has no model for). `filter` blocks
are applied as the provider's own `ApplyFilters` does (internal/tfresource/filter.go: exact
string match, or an unanchored RE2 match when `regex = true`; a list matches on any element).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import world
from .store import Tenancy


@dataclass(frozen=True)
class ReadContext:
    region: str
    tenancy: Tenancy


class ReadError(Exception):
    """The data source's read fails as the API would (e.g. 404 on an unknown OCID)."""


Reader = Callable[[Mapping[str, Any], ReadContext], dict[str, Any]]
READERS: dict[str, Reader] = {}
# The list attribute a data source's `filter` blocks narrow.
FILTERED: dict[str, str] = {}


def reader(tf_type: str, filtered: str | None = None) -> Callable[[Reader], Reader]:
    def register(fn: Reader) -> Reader:
        READERS[tf_type] = fn
        if filtered is not None:
            FILTERED[tf_type] = filtered
        return fn

    return register


def _as_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _matches(item: Mapping[str, Any], f: Mapping[str, Any]) -> bool:
    value = item.get(f["name"])
    wanted = [str(v) for v in f.get("values") or []]
    for candidate in value if isinstance(value, list) else [value]:
        if candidate is None:
            continue
        text = _as_text(candidate)
        if any(re.search(w, text) if f.get("regex") else w == text for w in wanted):
            return True
    return False


def apply_filters(
    items: list[dict[str, Any]], filters: list[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    for f in filters:
        items = [i for i in items if _matches(i, f)]
    return items


def read(tf_type: str, config: Mapping[str, Any], ctx: ReadContext) -> dict[str, Any]:
    fn = READERS.get(tf_type)
    if fn is None:
        raise ReadError(f"the stand-in has no model of data source {tf_type}; add a reader")
    values = fn(config, ctx)
    if tf_type in FILTERED and config.get("filter"):
        key = FILTERED[tf_type]
        values[key] = apply_filters(values[key], list(config["filter"]))
    return values


@reader("oci_identity_availability_domains", filtered="availability_domains")
def _ads(config: Mapping[str, Any], ctx: ReadContext) -> dict[str, Any]:
    return {
        "availability_domains": world.availability_domains(ctx.region, config["compartment_id"])
    }


@reader("oci_core_images", filtered="images")
def _images(config: Mapping[str, Any], ctx: ReadContext) -> dict[str, Any]:
    found = world.images(ctx.region, config["compartment_id"], config.get("shape"))
    for key in ("operating_system", "operating_system_version", "display_name", "state"):
        if config.get(key) is not None:
            found = [i for i in found if i.get(key) == config[key]]
    return {"images": found}


@reader("oci_core_services", filtered="services")
def _services(config: Mapping[str, Any], ctx: ReadContext) -> dict[str, Any]:
    return {"services": world.services(ctx.region)}


@reader("oci_identity_regions", filtered="regions")
def _regions(config: Mapping[str, Any], ctx: ReadContext) -> dict[str, Any]:
    return {"regions": [{"key": k, "name": n} for k, n in world.REGIONS]}


@reader("oci_identity_tenancy")
def _tenancy(config: Mapping[str, Any], ctx: ReadContext) -> dict[str, Any]:
    return {
        "id": config["tenancy_id"],
        "name": "standin-tenancy",
        "description": "stand-in tenancy",
        "home_region_key": world.HOME_REGION_KEY,
        "defined_tags": {},
        "freeform_tags": {},
    }


@reader("oci_objectstorage_namespace")
def _namespace(config: Mapping[str, Any], ctx: ReadContext) -> dict[str, Any]:
    return {"namespace": ctx.tenancy.namespace()}


def _instance_values(ctx: ReadContext, instance_id: str) -> dict[str, Any]:
    found = ctx.tenancy.get(instance_id)
    if found is None:
        raise ReadError(f"404 NotAuthorizedOrNotFound: instance {instance_id} not found")
    return found


@reader("oci_core_instance")
def _instance(config: Mapping[str, Any], ctx: ReadContext) -> dict[str, Any]:
    values = _instance_values(ctx, str(config["instance_id"]))
    values.pop("cluster_network_id", None)
    return values


@reader("oci_core_cluster_network_instances", filtered="instances")
def _pool_members(config: Mapping[str, Any], ctx: ReadContext) -> dict[str, Any]:
    network = config["cluster_network_id"]
    if ctx.tenancy.get(network) is None:
        raise ReadError(f"404 NotAuthorizedOrNotFound: cluster network {network} not found")
    members = [i for i in ctx.tenancy.of_kind("instance") if i.get("cluster_network_id") == network]
    return {"instances": sorted(members, key=lambda i: str(i["time_created"]))}


@reader("oci_core_private_ip")
def _private_ip(config: Mapping[str, Any], ctx: ReadContext) -> dict[str, Any]:
    ip_id = config.get("private_ip_id")
    found = ctx.tenancy.get(str(ip_id)) if ip_id else None
    if found is None:
        raise ReadError(f"404 NotAuthorizedOrNotFound: private IP {ip_id} not found")
    return found


@reader("oci_objectstorage_bucket")
def _bucket(config: Mapping[str, Any], ctx: ReadContext) -> dict[str, Any]:
    for bucket in ctx.tenancy.of_kind("oci_objectstorage_bucket"):
        if bucket.get("name") == config.get("name") and bucket.get("namespace") == config.get(
            "namespace"
        ):
            return bucket
    raise ReadError(f"404 BucketNotFound: bucket {config.get('name')} not found")
