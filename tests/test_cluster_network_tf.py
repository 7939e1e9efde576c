"""`NodeGroup.placement = "cluster_network"`: the Terraform a pool of nodes and its roster get.

Each example is synthesized with the nodes' placement switched to cluster_network, as a user
would write it, and read as a reviewer would: one pool, no per-node instances, a roster whose
line i names the instance every output, rule and backend calls node i.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from infra.constructs import weight_store
from infra.constructs.cluster_network import create_timeout
from infra.constructs.gpu_nodes import GpuNodes, GpuNodesProps
from infra.constructs.weight_store import WeightStoreProps
from infra.node_metadata import ApplyTimeValues
from infra.node_plan import NodePlan, plan_nodes, pool_stage0
from infra.specs import AnyStack, StackSpec, WeightCache, WeightVolume
from infra.stacks import load_stack_file
from infra.synth import settings_for, synth
from infra.tf.cdk import Construct, TerraformStack, new_app
from infra.tf.schema import check_terraform_json

from .conftest import REPO
from .narrow import synth_construct
from .test_security_scan import _checkov, _unexplained

Doc = dict[str, Any]

RL = "deepseek_r1_rl_16x_h100"
SERVING = "deepseek_r1_vllm_2x_h100"


def pooled(stack_file: str, **update: Any) -> AnyStack:
    """The example stack with its nodes in a cluster network (and any other field changed)."""
    spec = load_stack_file(REPO / "stacks" / f"{stack_file}.py")
    nodes = spec.nodes.model_copy(update={"placement": "cluster_network"})
    return spec.model_copy(update={"nodes": nodes, **update})


def _synth(spec: AnyStack, out: Path) -> Doc:
    result = synth({spec.name: spec}, out)
    doc: Doc = json.loads(result.stacks[spec.name].read_text())
    return doc


@pytest.fixture(scope="module")
def rl(tmp_path_factory: pytest.TempPathFactory) -> tuple[AnyStack, Doc]:
    spec = pooled(RL)
    return spec, _synth(spec, tmp_path_factory.mktemp("rl") / "out")


@pytest.fixture(scope="module")
def serving(tmp_path_factory: pytest.TempPathFactory) -> tuple[AnyStack, Doc]:
    spec = pooled(SERVING)
    assert isinstance(spec, StackSpec) and spec.uses_api_key  # so the dynamic group exists
    return spec, _synth(spec, tmp_path_factory.mktemp("serving") / "out")


def _one(doc: Doc, kind: str, tf_type: str) -> tuple[str, Doc]:
    """The name and body of the only `tf_type` in `doc[kind]`."""
    ((name, body),) = doc[kind][tf_type].items()
    return str(name), dict(body)


def _pool_nodes(doc: Doc) -> list[str]:
    """Names of the per-node instance data sources, in node-index order."""
    names = list(doc["data"]["oci_core_instance"])
    return sorted(names, key=lambda n: int(n.rsplit("_", 1)[1]))


def _ref(name: str, attr: str) -> str:
    return f"${{data.oci_core_instance.{name}.{attr}}}"


def _plan(spec: AnyStack) -> tuple[NodePlan, ...]:
    return plan_nodes(spec, settings_for(spec))


def test_every_variant_passes_the_provider_schema(
    rl: tuple[AnyStack, Doc], serving: tuple[AnyStack, Doc]
) -> None:
    for _, doc in (rl, serving):
        assert check_terraform_json(doc) == []


def test_no_node_is_a_managed_instance(rl: tuple[AnyStack, Doc]) -> None:
    _, doc = rl
    # The bastion is the stack's one instance of its own; the GPU nodes come from the pool.
    assert list(doc["resource"]["oci_core_instance"]) == ["cluster_bastion_vm"]
    assert "oci_core_compute_cluster" not in doc["resource"]


def test_instance_configuration_launches_private_rdma_nodes(rl: tuple[AnyStack, Doc]) -> None:
    spec, doc = rl
    name, config = _one(doc, "resource", "oci_core_instance_configuration")
    assert config["source"] == "NONE"
    details = config["instance_details"]
    assert details["instance_type"] == "compute"
    launch = details["launch_details"]
    assert launch["shape"] == "BM.GPU.H100.8"
    vnic = launch["create_vnic_details"]
    assert vnic == {
        "subnet_id": "${oci_core_subnet.cluster_network_private.id}",
        "assign_public_ip": False,
        "nsg_ids": ["${oci_core_network_security_group.cluster_network_node_nsg.id}"],
    }
    source = launch["source_details"]
    assert source["source_type"] == "image"
    assert source["image_id"] == "${data.oci_core_images.cluster_nodes_image.images[0].id}"
    assert source["boot_volume_size_in_gbs"] == str(spec.nodes.boot_volume_gb)
    plugins = {p["name"]: p["desired_state"] for p in launch["agent_config"]["plugins_config"]}
    assert plugins == {
        "Compute Instance Monitoring": "ENABLED",
        "Compute RDMA GPU Monitoring": "ENABLED",
        "Compute HPC RDMA Authentication": "ENABLED",
        "Compute HPC RDMA Auto-Configuration": "ENABLED",
    }
    assert launch["instance_options"] == {"are_legacy_imds_endpoints_disabled": True}
    # Bare metal boots over iSCSI: no in-transit flag, as on compute-cluster nodes.
    assert "is_pv_encryption_in_transit_enabled" not in launch
    assert launch["freeform_tags"] == {"gpuform-stack": spec.name}
    assert config["lifecycle"] == {
        "create_before_destroy": True,
        "ignore_changes": ["instance_details[0].launch_details[0].source_details[0].image_id"],
    }
    assert name == "cluster_nodes_pool_config"


def test_shared_metadata_carries_the_roster_url_and_no_node_identity(
    rl: tuple[AnyStack, Doc],
) -> None:
    spec, doc = rl
    _, config = _one(doc, "resource", "oci_core_instance_configuration")
    metadata = config["instance_details"]["launch_details"]["metadata"]
    url = "https://objectstorage.us-ashburn-1.oraclecloud.com${oci_objectstorage_preauthrequest."
    assert metadata["gpuform_roster_url"] == f"{url}cluster_nodes_pool_roster_par.access_uri}}"
    # The pool's two kinds of node (the Ray head, the workers): a bundle each, URLs in the
    # order stage 0 pins their hashes.
    assert metadata["gpuform_bundle_urls"] == " ".join(
        f"{url}cluster_nodes_bundles_par_{k}.access_uri}}" for k in (0, 1)
    )
    assert metadata["gpuform_node_index"] == ""
    assert metadata["gpuform_head_ip"] == ""
    assert metadata["gpuform_node_count"] == "16"
    assert metadata["user_data"] == pool_stage0(_plan(spec)).user_data_b64
    assert len(json.dumps(metadata)) < 32_000


def test_cluster_network_is_one_pool_of_every_node(rl: tuple[AnyStack, Doc]) -> None:
    _, doc = rl
    _, network = _one(doc, "resource", "oci_core_cluster_network")
    (pool,) = network["instance_pools"]
    assert pool["size"] == 16
    assert pool["instance_configuration_id"] == (
        "${oci_core_instance_configuration.cluster_nodes_pool_config.id}"
    )
    assert network["placement_configuration"] == {
        "availability_domain": (
            "${data.oci_identity_availability_domains.cluster_ads.availability_domains[0].name}"
        ),
        "primary_subnet_id": "${oci_core_subnet.cluster_network_private.id}",
    }
    assert network["display_name"] == "deepseek-r1-rl-rdma"
    assert network["timeouts"] == {"create": "30m"}


@pytest.mark.parametrize(("nodes", "expected"), [(2, "30m"), (19, "30m"), (20, "60m"), (41, "90m")])
def test_create_timeout_is_oci_hpcs(nodes: int, expected: str) -> None:
    # oci-hpc locals.tf: ((node_count - node_count % 20) / 20 + 1) * 30, in minutes.
    assert create_timeout(nodes) == expected == f"{((nodes - nodes % 20) // 20 + 1) * 30}m"


def test_roster_is_private_and_read_only_through_one_object(rl: tuple[AnyStack, Doc]) -> None:
    _, doc = rl
    # One bucket of the stack's own for what nodes read at boot: the roster and the bundles.
    bucket_name, bucket = _one(doc, "resource", "oci_objectstorage_bucket")
    assert bucket["name"] == "deepseek-r1-rl-boot"
    assert bucket["access_type"] == "NoPublicAccess"
    par = doc["resource"]["oci_objectstorage_preauthrequest"]["cluster_nodes_pool_roster_par"]
    assert par["access_type"] == "ObjectRead"
    assert par["object_name"] == "roster"
    assert par["bucket"] == f"${{oci_objectstorage_bucket.{bucket_name}.name}}"
    assert "bucket_listing_action" not in par
    # Stable across plans: set once at create, then ignored.
    assert par["time_expires"] == '${timeadd(timestamp(), "87600h")}'
    assert par["lifecycle"] == {"ignore_changes": ["time_expires"]}


def test_roster_names_node_i_on_line_i(rl: tuple[AnyStack, Doc]) -> None:
    _, doc = rl
    roster = doc["resource"]["oci_objectstorage_object"]["cluster_nodes_pool_roster_object"]
    assert roster["object"] == "roster"
    assert roster["bucket"] == "${oci_objectstorage_bucket.cluster_nodes_boot_bucket.name}"
    content: str = roster["content"]
    assert content.endswith("\n")
    lines = content.split("\n")[:-1]
    nodes = _pool_nodes(doc)
    assert len(lines) == len(nodes) == 16
    for i, (line, node) in enumerate(zip(lines, nodes, strict=True)):
        assert line == f"{i} {_ref(node, 'id')} {_ref(node, 'private_ip')}"


def test_node_i_is_the_ith_instance_by_sorted_ocid(rl: tuple[AnyStack, Doc]) -> None:
    _, doc = rl
    members_name, members = _one(doc, "data", "oci_core_cluster_network_instances")
    assert members["cluster_network_id"] == "${oci_core_cluster_network.cluster_nodes_pool_rdma.id}"
    assert members["compartment_id"] == "${var.compartment_ocid}"
    (check,) = members["lifecycle"]["postcondition"]
    assert check["condition"] == "${length(self.instances) == 16}"
    sorted_ids = f"sort(data.oci_core_cluster_network_instances.{members_name}.instances[*].id)"
    for i, node in enumerate(_pool_nodes(doc)):
        lookup = doc["data"]["oci_core_instance"][node]
        assert lookup["instance_id"] == f"${{element({sorted_ids}, {i})}}"


def test_outputs_read_the_nodes_in_roster_order(rl: tuple[AnyStack, Doc]) -> None:
    spec, doc = rl
    outputs = doc["output"]
    nodes = _pool_nodes(doc)
    plan = _plan(spec)
    assert outputs["node_private_ips"]["value"] == [_ref(n, "private_ip") for n in nodes]
    for i, entry in enumerate(outputs["nodes"]["value"]):
        assert entry["index"] == plan[i].index == i
        assert (entry["instance_id"], entry["private_ip"]) == (
            _ref(nodes[i], "id"),
            _ref(nodes[i], "private_ip"),
        )
    heads = [n.index for n in plan if n.ray_role == "head"]
    assert outputs["ray_head_addresses"]["value"] == [
        f"{_ref(nodes[h], 'private_ip')}:6379" for h in heads
    ]
    assert outputs["ssh_command"]["value"].endswith(f"@{_ref(nodes[0], 'private_ip')}")


def test_serving_pool_wires_access_and_endpoint_to_the_roster_nodes(
    serving: tuple[AnyStack, Doc],
) -> None:
    spec, doc = serving
    nodes = _pool_nodes(doc)
    assert len(nodes) == 2
    _, group = _one(doc, "resource", "oci_identity_dynamic_group")
    rule = group["matching_rule"]
    assert re.findall(r"instance\.id = '([^']+)'", rule) == [_ref(n, "id") for n in nodes]
    heads = [n.index for n in _plan(spec) if n.role == "head"]
    backends = doc["resource"]["oci_network_load_balancer_backend"].values()
    assert [b["target_id"] for b in backends] == [_ref(nodes[h], "id") for h in heads]


def test_weight_volumes_attach_to_the_roster_nodes(
    serving: tuple[AnyStack, Doc], tmp_path: Path
) -> None:
    spec, _ = serving
    assert isinstance(spec, StackSpec)
    plan = _plan(spec)
    weights = WeightCache(bucket="models", create=False, volume=WeightVolume(size_gb=1000))

    def build(scope: Construct) -> None:
        group = GpuNodes(
            scope,
            "nodes",
            GpuNodesProps(
                nodes=spec.nodes,
                plan=plan,
                placement="cluster_network",
                compartment_id="c",
                availability_domain="AD-1",
                subnet_id="priv",
                nsg_id="nsg",
                values=ApplyTimeValues("ssh-ed25519 AAAA k", api_key_secret_id="", head_ip=""),
                block_volumes=True,
                region="us-ashburn-1",
            ),
        )
        cache = weight_store.WeightStore(
            scope, "w", WeightStoreProps("wts", "c", "us-ashburn-1", weights)
        )
        cache.attach(group.instances, "AD-1", bare_metal=True)

    doc = synth_construct(tmp_path, build)
    nodes = _pool_nodes(doc)
    attachments = doc["resource"]["oci_core_volume_attachment"]
    assert [a["instance_id"] for a in attachments.values()] == [_ref(n, "id") for n in nodes]
    _, config = _one(doc, "resource", "oci_core_instance_configuration")
    plugins = config["instance_details"]["launch_details"]["agent_config"]["plugins_config"]
    assert {"name": "Block Volume Management", "desired_state": "ENABLED"} in plugins


def test_a_pool_needs_the_region_for_its_roster_url(serving: tuple[AnyStack, Doc]) -> None:
    spec, _ = serving
    props = GpuNodesProps(
        nodes=spec.nodes,
        plan=_plan(spec),
        placement="cluster_network",
        compartment_id="c",
        availability_domain="AD-1",
        subnet_id="priv",
        nsg_id="nsg",
        values=ApplyTimeValues("k", api_key_secret_id="", head_ip=""),
    )
    app = new_app("/nonexistent")
    with pytest.raises(ValueError, match="region"):
        GpuNodes(TerraformStack(app, "s"), "nodes", props)


def test_checkov_finds_nothing_unexplained(
    rl: tuple[AnyStack, Doc], serving: tuple[AnyStack, Doc], tmp_path: Path
) -> None:
    for spec, doc in (rl, serving):
        (tmp_path / spec.name).mkdir()
        (tmp_path / spec.name / "cdk.tf.json").write_text(json.dumps(doc))
    report = _checkov(tmp_path)
    assert report["summary"]["parsing_errors"] == 0
    unexplained = _unexplained(report)
    assert not unexplained, "\n".join(unexplained)
