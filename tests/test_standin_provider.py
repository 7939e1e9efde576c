"""The stand-in oracle/oci provider in-process: the schema it serves matches the one gpuform checks
against, and its plan/apply/read follow terraform-plugin-sdk v2 and behaviour.json. (Terraform
itself drives it in tests/test_tf_e2e.py.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tf.gen import tfplugin_pb2 as pb

from infra.tf.schema import BUILTIN_RESOURCES, BlockSchema, load_schema
from tests.standin_oci import schema as standin_schema
from tests.standin_oci.server import StandInProvider
from tests.standin_oci.store import STATE_ENV, read_objects
from tests.standin_oci.values import UNKNOWN, decode, encode


def _same_arguments(ours: BlockSchema, served: standin_schema.Block, where: str) -> None:
    for name, required in ours.arguments.items():
        attribute = served.attributes.get(name)
        assert attribute is not None, f"{where}.{name} not served"
        assert attribute.required == required, f"{where}.{name}"
    for name, block in ours.blocks.items():
        nested = served.block_types.get(name)
        assert nested is not None, f"{where}.{name} block not served"
        assert (nested.min_items > 0) == block.required, f"{where}.{name}"
        assert (nested.max_items != 1) == block.list or nested.nesting == "single", (
            f"{where}.{name}"
        )
        _same_arguments(block.body, nested.block, f"{where}.{name}")


def test_served_schema_covers_the_schema_gpuform_checks_against() -> None:
    ours, served = load_schema(), standin_schema.load()
    assert served.version == ours.version
    for name, body in ours.resources.items():
        if name in BUILTIN_RESOURCES:  # terraform_data: Terraform's own provider
            continue
        _same_arguments(body, served.resources[name].block, name)
    for name, body in ours.data_sources.items():
        _same_arguments(body, served.data_sources[name].block, f"data.{name}")


@pytest.fixture
def provider(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StandInProvider:
    monkeypatch.setenv(STATE_ENV, str(tmp_path / "state.json"))
    return StandInProvider(standin_schema.load())


def _dv(value: Any) -> pb.DynamicValue:
    return pb.DynamicValue(msgpack=encode(value))


def _full(type_name: str, values: dict[str, Any]) -> dict[str, Any]:
    from tests.standin_oci.values import conform_block

    return conform_block(standin_schema.load().resources[type_name].block, values)


PAR = {
    "access_type": "AnyObjectRead",
    "bucket": "weights",
    "name": "read",
    "namespace": "axnamespace",
    "time_expires": "2030-01-01T00:00:00Z",
    "bucket_listing_action": "Deny",
}


def _plan(p: StandInProvider, prior: Any, config: dict[str, Any]) -> Any:
    proposed = dict(config)
    if prior is not None:  # Terraform's proposed new state keeps computed values the config omits
        proposed = {k: (config[k] if config.get(k) is not None else v) for k, v in prior.items()}
    request = pb.PlanResourceChange.Request(
        type_name="oci_objectstorage_preauthrequest",
        prior_state=_dv(prior),
        proposed_new_state=_dv(proposed),
        config=_dv(config),
    )
    return p.PlanResourceChange(request, None)


def test_create_plans_unknown_computed_values_and_apply_fills_them(
    provider: StandInProvider, tmp_path: Path
) -> None:
    config = _full("oci_objectstorage_preauthrequest", PAR)
    planned = decode(_plan(provider, None, config).planned_state.msgpack)
    assert planned["access_uri"] is UNKNOWN and planned["id"] is UNKNOWN
    assert planned["bucket_listing_action"] == "Deny"  # configured: as given
    applied = provider.ApplyResourceChange(
        pb.ApplyResourceChange.Request(
            type_name="oci_objectstorage_preauthrequest",
            prior_state=_dv(None),
            planned_state=_dv(planned),
            config=_dv(config),
        ),
        None,
    )
    assert not applied.diagnostics, applied.diagnostics
    state = decode(applied.new_state.msgpack)
    assert state["access_uri"].startswith("/p/") and state["access_uri"].endswith("/b/weights/o/")
    assert state["time_expires"] == "2030-01-01T00:00:00Z"
    assert list(read_objects(tmp_path / "state.json")) == [state["id"]]

    # The real Read never copies BucketListingAction: a refresh stores "" ...
    read = provider.ReadResource(
        pb.ReadResource.Request(
            type_name="oci_objectstorage_preauthrequest", current_state=_dv(state)
        ),
        None,
    )
    refreshed = decode(read.new_state.msgpack)
    assert refreshed["bucket_listing_action"] == ""
    # ... and the next plan replaces the PAR, the attribute being ForceNew.
    again = _plan(provider, refreshed, config)
    assert [[s.attribute_name for s in p.steps] for p in again.requires_replace] == [
        ["bucket_listing_action"]
    ]


def test_a_suppressed_diff_keeps_the_prior_value(provider: StandInProvider) -> None:
    prior = _full("oci_objectstorage_preauthrequest", {**PAR, "id": "x", "access_uri": "/p/a"})
    config = _full(
        "oci_objectstorage_preauthrequest", {**PAR, "time_expires": "2030-01-01T00:00:00.000Z"}
    )
    response = _plan(provider, prior, config)
    planned = decode(response.planned_state.msgpack)
    assert planned["time_expires"] == "2030-01-01T00:00:00Z"  # TimeDiffSuppressFunction
    assert not response.requires_replace


def test_served_types_are_terraform_type_json() -> None:
    schema = StandInProvider(standin_schema.load()).GetProviderSchema(None, None)
    instance = schema.resource_schemas["oci_core_instance"].block
    types = {a.name: json.loads(a.type) for a in instance.attributes}
    assert types["metadata"] == ["map", "string"]
    assert types["private_ip"] == "string"
    computed = {a.name for a in instance.attributes if a.computed and not a.optional}
    assert {"private_ip", "public_ip", "boot_volume_id", "time_created"} <= computed
    blocks = {b.type_name: b for b in instance.block_types}
    assert blocks["create_vnic_details"].max_items == 1


def _apply(p: StandInProvider, type_name: str, prior: Any, values: dict[str, Any]) -> Any:
    planned = decode(
        p.PlanResourceChange(
            pb.PlanResourceChange.Request(
                type_name=type_name,
                prior_state=_dv(prior),
                proposed_new_state=_dv(values),
                config=_dv(values),
            ),
            None,
        ).planned_state.msgpack
    )
    response = p.ApplyResourceChange(
        pb.ApplyResourceChange.Request(
            type_name=type_name, prior_state=_dv(prior), planned_state=_dv(planned)
        ),
        None,
    )
    assert not response.diagnostics, response.diagnostics
    return decode(response.new_state.msgpack)


def test_a_cluster_network_launches_its_pool_once(
    provider: StandInProvider, tmp_path: Path
) -> None:
    """CreateClusterNetwork launches `size` instances; an in-place update launches none."""
    network = _full(
        "oci_core_cluster_network",
        {
            "compartment_id": "c",
            "display_name": "one",
            "instance_pools": [{"instance_configuration_id": "ic", "size": 3}],
            "placement_configuration": [{"availability_domain": "AD-1"}],
        },
    )
    created = _apply(provider, "oci_core_cluster_network", None, network)

    def instances() -> int:
        objects = read_objects(tmp_path / "state.json").values()
        return sum(o["kind"] == "instance" for o in objects)

    assert instances() == 3
    renamed = {**created, "display_name": "two"}
    updated = _apply(provider, "oci_core_cluster_network", created, renamed)
    assert updated["id"] == created["id"] and updated["display_name"] == "two"
    assert instances() == 3
