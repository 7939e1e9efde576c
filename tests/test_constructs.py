"""Each construct alone, with narrow props: the Terraform it writes and nothing it should not."""

from __future__ import annotations

from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

from infra.constructs.gpu_nodes import GpuNodes, GpuNodesProps
from infra.constructs.load_balancer import ApiLoadBalancer, ApiLoadBalancerProps
from infra.constructs.network import Network, NetworkProps
from infra.node_metadata import ApplyTimeValues
from infra.node_plan import plan_nodes
from infra.sizing.settings import resolve
from infra.specs import Engine, Model, NodeGroup, StackSpec

from .factories import deployment
from .narrow import synth_construct


def _all(doc: dict[str, Any], tf_type: str) -> list[dict[str, Any]]:
    return list(doc.get("resource", {}).get(tf_type, {}).values())


def test_endpoint_targets_exactly_the_given_instances(tmp_path: Path) -> None:
    props = ApiLoadBalancerProps(
        name="n",
        compartment_id="c",
        subnet_id="pub",
        nsg_id="nsg",
        listen_port=443,
        health_path="/healthz",
        engine_port=9000,
        target_instance_ids=("i-a", "i-b"),
    )
    doc = synth_construct(tmp_path, lambda s: ApiLoadBalancer(s, "ep", props))
    assert sorted(b["target_id"] for b in _all(doc, "oci_network_load_balancer_backend")) == [
        "i-a",
        "i-b",
    ]
    assert {b["port"] for b in _all(doc, "oci_network_load_balancer_backend")} == {9000}
    (backend_set,) = _all(doc, "oci_network_load_balancer_backend_set")
    check = backend_set["health_checker"]
    assert (check["url_path"], check["port"], check["protocol"]) == ("/healthz", 9000, "HTTP")
    (listener,) = _all(doc, "oci_network_load_balancer_listener")
    assert listener["port"] == 443


def test_network_opens_ssh_and_api_only_to_the_given_ranges(tmp_path: Path) -> None:
    props = NetworkProps(
        name="narrow",
        compartment_id="c",
        vcn_cidr=IPv4Network("10.1.0.0/16"),
        public_subnet_cidr=IPv4Network("10.1.0.0/24"),
        private_subnet_cidr=IPv4Network("10.1.16.0/20"),
        ssh_allowed_cidrs=(IPv4Network("192.0.2.0/28"),),
        api_allowed_cidrs=(IPv4Network("198.51.100.7/32"), IPv4Network("203.0.113.0/24")),
        api_port=8443,
    )
    doc = synth_construct(tmp_path, lambda s: Network(s, "net", props))
    rules = _all(doc, "oci_core_network_security_group_security_rule")
    ingress = [r for r in rules if r["direction"] == "INGRESS"]
    by_port: dict[object, set[str]] = {}
    for r in ingress:
        port = r.get("tcp_options", {}).get("destination_port_range", {}).get("min", "all")
        by_port.setdefault(port, set()).add(r["source"])
    assert by_port == {
        22: {"192.0.2.0/28"},
        8443: {"198.51.100.7/32", "203.0.113.0/24"},
        "all": {"10.1.0.0/16"},  # GPU nodes, from inside the VCN only
    }
    (vcn,) = _all(doc, "oci_core_vcn")
    assert vcn["cidr_blocks"] == ["10.1.0.0/16"]
    # The subnets' list admits only path-MTU ICMP: were it to admit the VCN, every port of every
    # VNIC in a subnet would be open whatever the NSGs say (OCI takes the union of both).
    (baseline,) = _all(doc, "oci_core_security_list")
    (pmtu,) = baseline["ingress_security_rules"]
    assert pmtu["protocol"] == "1" and pmtu["icmp_options"] == {"type": 3, "code": 4}


def test_gpu_nodes_follow_the_node_plan(tmp_path: Path) -> None:
    spec = StackSpec(
        deployment=deployment(
            "pair", ssh_allowed_cidrs=["192.0.2.0/28"], api_allowed_cidrs=["192.0.2.0/28"]
        ),
        nodes=NodeGroup(shape="BM.GPU.H100.8", count=2),
        model=Model(id="deepseek-ai/DeepSeek-R1", precision="fp8"),
        engine=Engine(kind="vllm"),
    )
    plan = plan_nodes(spec, resolve(spec))
    props = GpuNodesProps(
        nodes=spec.nodes,
        plan=plan,
        placement=plan[0].placement,
        compartment_id="c",
        availability_domain="AD-1",
        subnet_id="priv",
        nsg_id="nsg",
        values=ApplyTimeValues("ssh-ed25519 AAAA k", api_key_secret_id="", head_ip=""),
        region="us-ashburn-1",
    )
    doc = synth_construct(tmp_path, lambda s: GpuNodes(s, "nodes", props))
    instances = doc["resource"]["oci_core_instance"]
    assert set(instances) == {"nodes_node_0", "nodes_node_1"}
    head, worker = instances["nodes_node_0"], instances["nodes_node_1"]
    assert head["metadata"]["gpuform_head_ip"] == ""
    assert worker["metadata"]["gpuform_head_ip"] == "${oci_core_instance.nodes_node_0.private_ip}"
    for index, inst in enumerate((head, worker)):
        assert inst["freeform_tags"]["gpuform-role"] == plan[index].role
        assert inst["create_vnic_details"]["hostname_label"] == plan[index].hostname
        assert inst["display_name"] == plan[index].display_name
        assert inst["metadata"]["user_data"] == plan[index].user_data_b64
        assert inst["create_vnic_details"]["assign_public_ip"] == "false"
