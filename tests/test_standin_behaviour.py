"""tests/standin_oci/behaviour.json: what the real oracle/oci provider does with each argument of
every resource type gpuform emits, read from its Go source (tests/standin_oci/README.md), held to
the schema gpuform synthesizes against (infra/tf/schema/oci.json) so that the stand-in provider
never models an argument the real provider does not have."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from infra.tf import oci
from infra.tf.resources import Resource
from infra.tf.schema import BUILTIN_RESOURCES, BlockSchema, load_schema

BEHAVIOUR = Path(__file__).parent / "standin_oci" / "behaviour.json"

#: Keys of a read_back entry that say what state holds; exactly one per entry.
READ_BACK_VALUE_KEYS = frozenset(
    {"value", "value_from", "value_if_unset", "value_desc", "transform"}
)
#: When the real provider stores the read-back value (README "read_back").
READ_BACK_WHEN = frozenset({"read", "apply_and_read", "plan_apply_and_read"})
#: Where a read-back value comes from (README "read_back"); provider_source when left out.
READ_BACK_BASIS = frozenset({"provider_source", "service_docs", "assumed"})
#: Entry fields whose keys or items are argument paths of the resource type.
PATH_FIELDS = (
    "force_new",
    "force_new_if",
    "optional_not_computed",
    "defaults",
    "diff_suppress",
    "read_back",
)


@cache
def _behaviour() -> Mapping[str, Any]:
    data: Mapping[str, Any] = json.loads(BEHAVIOUR.read_text("utf-8"))
    return data


def _entries() -> Mapping[str, Mapping[str, Any]]:
    resources: Mapping[str, Mapping[str, Any]] = _behaviour()["resources"]
    return resources


def _emitted_types() -> set[str]:
    """Every managed resource type infra/tf/oci.py can synthesize."""
    return {
        value.tf_type
        for value in vars(oci).values()
        if isinstance(value, type) and issubclass(value, Resource) and value is not Resource
    }


def _schema_types() -> set[str]:
    return set(load_schema().resources) - set(BUILTIN_RESOURCES)


def _resolve(body: BlockSchema, path: str) -> str | None:
    """ "argument" or "block" where the dotted path lands in the schema, else None."""
    head, _, rest = path.partition(".")
    if not rest:
        if head in body.arguments:
            return "argument"
        return "block" if head in body.blocks else None
    block = body.blocks.get(head)
    return _resolve(block.body, rest) if block is not None else None


def _required(body: BlockSchema, path: str) -> bool:
    head, _, rest = path.partition(".")
    if rest:
        return _required(body.blocks[head].body, rest)
    if head in body.arguments:
        return body.arguments[head]
    return body.blocks[head].required


def _paths(entry: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for field in PATH_FIELDS:
        for path in entry.get(field, ()):
            yield field, path


def test_every_resource_type_gpuform_emits_has_an_entry() -> None:
    missing = (_emitted_types() | _schema_types()) - set(_entries())
    assert not missing, f"behaviour.json lacks {sorted(missing)}"


def test_no_entry_for_a_type_outside_the_schema() -> None:
    assert set(_entries()) <= _schema_types()


@pytest.mark.parametrize("tf_type", sorted(_entries()))
def test_every_path_names_an_argument_the_schema_knows(tf_type: str) -> None:
    schema = load_schema().resources[tf_type]
    unknown = [
        f"{field}: {path}"
        for field, path in _paths(_entries()[tf_type])
        if not _resolve(schema, path)
    ]
    assert not unknown, f"{tf_type}: not arguments or blocks of the provider schema: {unknown}"


@pytest.mark.parametrize("tf_type", sorted(_entries()))
def test_entry_cites_the_provider_source(tf_type: str) -> None:
    entry = _entries()[tf_type]
    assert re.fullmatch(r"internal/service/[a-z_]+/[a-z0-9_]+_resource\.go", entry["source"])
    assert re.fullmatch(r"[0-9a-f]{40}", entry["ref"])
    assert set(entry["timeouts"]) <= {"create", "update", "delete"}
    assert all(re.fullmatch(r"\d+[mh]", v) for v in entry["timeouts"].values())


@pytest.mark.parametrize("tf_type", sorted(_entries()))
def test_read_back_says_what_state_holds_when_and_why(tf_type: str) -> None:
    for path, quirk in _entries()[tf_type]["read_back"].items():
        assert len(READ_BACK_VALUE_KEYS & set(quirk)) == 1, f"{tf_type} {path}: {quirk}"
        assert quirk["on"] in READ_BACK_WHEN, f"{tf_type} {path}"
        assert quirk.get("basis", "provider_source") in READ_BACK_BASIS, f"{tf_type} {path}"
        assert isinstance(quirk["why"], str) and quirk["why"].strip(), f"{tf_type} {path}"


@pytest.mark.parametrize("tf_type", sorted(_entries()))
def test_defaults_belong_to_optional_arguments_that_are_not_computed(tf_type: str) -> None:
    # terraform-plugin-sdk v2 InternalValidate refuses Default together with Computed or
    # Required, so a path with a Default is Optional and not Computed.
    entry = _entries()[tf_type]
    schema = load_schema().resources[tf_type]
    assert set(entry["defaults"]) <= set(entry["optional_not_computed"]), tf_type
    for path in entry["optional_not_computed"]:
        assert not _required(schema, path), f"{tf_type} {path} is required in the schema"


@pytest.mark.parametrize("tf_type", sorted(_entries()))
def test_no_path_listed_twice(tf_type: str) -> None:
    entry = _entries()[tf_type]
    for field in ("force_new", "optional_not_computed"):
        assert len(entry[field]) == len(set(entry[field])), f"{tf_type} {field}"


def test_the_pre_authenticated_request_reads_its_listing_action_back_empty() -> None:
    # objectstorage_preauthrequest_resource.go: Get() copies no BucketListingAction, so a PAR
    # that sets it (the weights cache sets "Deny") shows "" -> "Deny" and is replaced on every
    # apply; the stand-in must reproduce exactly that.
    par = _entries()["oci_objectstorage_preauthrequest"]
    assert "bucket_listing_action" in par["force_new"]
    assert par["read_back"]["bucket_listing_action"]["value"] == ""
    assert par["read_back"]["bucket_listing_action"]["on"] == "read"
