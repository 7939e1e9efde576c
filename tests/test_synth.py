"""The example stacks synthesize to Terraform JSON a reviewer would approve."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.catalog.shapes import get_shape
from infra.render.stage0 import MAX_STAGE0_B64
from infra.specs import StackSpec
from infra.tf.schema import check_terraform_json

from .conftest import run_cli


def _resources(doc: dict[str, Any], tf_type: str) -> dict[str, dict[str, Any]]:
    return dict(doc.get("resource", {}).get(tf_type, {}))


def _gpu_nodes(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """GPU nodes launched one by one (compute cluster or none), as instance resources."""
    return [
        r
        for r in _resources(doc, "oci_core_instance").values()
        if r["freeform_tags"].get("gpuform-role") in ("head", "worker")
    ]


def _pools(doc: dict[str, Any]) -> list[tuple[dict[str, Any], int]]:
    """(launch_details, pool size) of each cluster network: GPU nodes a pool launches."""
    configs = _resources(doc, "oci_core_instance_configuration")
    pools = []
    for network in _resources(doc, "oci_core_cluster_network").values():
        for pool in network["instance_pools"]:
            ref = pool["instance_configuration_id"]
            name = ref.removeprefix("${oci_core_instance_configuration.").removesuffix(".id}")
            pools.append((configs[name]["instance_details"]["launch_details"], pool["size"]))
    return pools


def _gpu_metadata(doc: dict[str, Any]) -> list[dict[str, str]]:
    """The metadata every GPU node boots with: each instance's own, or its pool's shared one."""
    return [n["metadata"] for n in _gpu_nodes(doc)] + [p["metadata"] for p, _ in _pools(doc)]


def test_every_example_passes_the_provider_schema(synthesized: dict[str, dict[str, Any]]) -> None:
    assert len(synthesized) >= 6
    for name, doc in synthesized.items():
        assert check_terraform_json(doc) == [], name


def test_shapes_and_counts_match_the_specs(
    examples: dict[str, StackSpec], synthesized: dict[str, dict[str, Any]]
) -> None:
    for name, spec in examples.items():
        nodes, pools = _gpu_nodes(synthesized[name]), _pools(synthesized[name])
        assert len(nodes) + sum(size for _, size in pools) == spec.nodes.count, name
        shapes = {n["shape"] for n in nodes} | {p["shape"] for p, _ in pools}
        assert shapes == {spec.nodes.shape}, name
        # GPU nodes never get a public IP; the bastion is the only way in. (An instance's
        # assign_public_ip is a string, an instance configuration's a bool.)
        assert all(n["create_vnic_details"]["assign_public_ip"] == "false" for n in nodes)
        assert all(p["create_vnic_details"]["assign_public_ip"] is False for p, _ in pools)


def test_no_ssh_or_all_traffic_from_the_internet(synthesized: dict[str, dict[str, Any]]) -> None:
    for name, doc in synthesized.items():
        rules = _resources(doc, "oci_core_network_security_group_security_rule").values()
        ingress = [r for r in rules if r["direction"] == "INGRESS"]
        assert ingress, name
        for rule in ingress:
            opens_ssh = rule["protocol"] == "all" or (
                rule["protocol"] == "6"
                and rule["tcp_options"]["destination_port_range"]["min"]
                <= 22
                <= rule["tcp_options"]["destination_port_range"]["max"]
            )
            if opens_ssh:
                assert rule["source"] != "0.0.0.0/0", (name, rule["description"])
        for sl in _resources(doc, "oci_core_security_list").values():
            for rule in sl["ingress_security_rules"]:
                if rule["source"] == "0.0.0.0/0":
                    assert rule["protocol"] == "1", (name, rule)  # only ICMP path-MTU


def test_ssh_and_api_admit_exactly_the_allowed_cidrs(
    examples: dict[str, StackSpec], synthesized: dict[str, dict[str, Any]]
) -> None:
    for name, spec in examples.items():
        rules = _resources(synthesized[name], "oci_core_network_security_group_security_rule")
        ssh = {r["source"] for k, r in rules.items() if "bastion_ssh" in k}
        api = {r["source"] for k, r in rules.items() if "endpoint_api" in k}
        assert ssh == {str(c) for c in spec.deployment.ssh_allowed_cidrs}
        # A training cluster serves no API, so nothing is opened for one.
        served = isinstance(spec, StackSpec)
        assert api == ({str(c) for c in spec.deployment.api_allowed_cidrs} if served else set())


def _par_objects(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """PAR resource name -> the object resource its object_name references."""
    objects = _resources(doc, "oci_objectstorage_object")
    out = {}
    for name, par in _resources(doc, "oci_objectstorage_preauthrequest").items():
        ref = re.fullmatch(r"\$\{oci_objectstorage_object\.(\w+)\.object\}", par["object_name"])
        if ref:
            out[name] = objects[ref.group(1)]
    return out


def _bundles_of(doc: dict[str, Any], metadata: dict[str, str]) -> list[dict[str, Any]]:
    """The objects whose PARs a node's gpuform_bundle_urls names, in that order."""
    pars = _par_objects(doc)
    urls = metadata["gpuform_bundle_urls"].split(" ")
    names = [re.search(r"oci_objectstorage_preauthrequest\.(\w+)\.access_uri", u) for u in urls]
    assert all(names), urls
    return [pars[m.group(1)] for m in names if m]


def _pinned(text: str) -> list[str]:
    """The sha256 lines stage 0's cloud-config writes to /usr/local/lib/gpuform/bundles."""
    files = {f["path"]: str(f["content"]) for f in yaml.safe_load(text)["write_files"]}
    return files["/usr/local/lib/gpuform/bundles"].split()


def _members(obj: dict[str, Any]) -> set[str]:
    archive = base64.b64decode(obj["content"])
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        return {m.name.rsplit("/", 1)[1] for m in tar.getmembers()}


def test_user_data_is_a_small_stage0_pinning_an_uploaded_bundle(
    synthesized: dict[str, dict[str, Any]],
) -> None:
    # Decoded with the standard library alone, not gpuform's own functions: what cloud-init
    # gets on the node names this node and pins, by sha256, an object Terraform uploads,
    # whose PAR URL the node's metadata carries; that bundle holds every step the `nodes`
    # output lists.
    for name, doc in synthesized.items():
        planned = {n["index"]: n for n in doc["output"]["nodes"]["value"]}
        for node in _gpu_nodes(doc):
            index = int(node["freeform_tags"]["gpuform-node-index"])
            assert len(node["metadata"]["user_data"]) <= MAX_STAGE0_B64, (name, index)
            raw = base64.b64decode(node["metadata"]["user_data"])
            assert raw[:2] == b"\x1f\x8b", (name, index)  # gzip magic: cloud-init unpacks it
            text = gzip.decompress(raw).decode()
            assert text.startswith(f"#cloud-config\n# gpuform: stack {name}, node {index} of ")
            (bundle,) = _bundles_of(doc, node["metadata"])
            (sha,) = _pinned(text)
            assert hashlib.sha256(base64.b64decode(bundle["content"])).hexdigest() == sha
            assert bundle["object"] == f"bundle-{sha}.tgz.b64"
            assert planned[index]["bundle"]["sha256"] == sha
            steps = planned[index]["steps"]
            assert steps[0] == "gpuform-bundle.service", (name, index)
            assert set(steps[1:]) <= _members(bundle), (name, index)
            assert node["freeform_tags"]["gpuform-role"] == planned[index]["role"]
            # Only a serving head waits for its API (a training cluster serves none).
            if "gpuform-ready.service" in steps:
                assert planned[index]["role"] == "head", (name, index)
        for launch, size in _pools(doc):
            # One stage 0 for every node of the pool; each finds its index in the roster and
            # fetches its kind's bundle.
            assert len(launch["metadata"]["user_data"]) <= MAX_STAGE0_B64, name
            text = gzip.decompress(base64.b64decode(launch["metadata"]["user_data"])).decode()
            assert text.startswith(f"#cloud-config\n# gpuform: stack {name}, "), name
            assert launch["metadata"]["gpuform_node_count"] == str(size), name
            bundles = _bundles_of(doc, launch["metadata"])
            shas = [hashlib.sha256(base64.b64decode(b["content"])).hexdigest() for b in bundles]
            assert shas == _pinned(text), name
            assert {n["bundle"]["sha256"] for n in planned.values()} == set(shas), name


def test_bundle_objects_and_pars_do_not_churn(synthesized: dict[str, dict[str, Any]]) -> None:
    # Every PAR reads one object, never lists (bucket_listing_action reads back empty and
    # would replace the PAR on every plan) and keeps its creation-time expiry; a bundle and
    # its PAR are replaced new-before-old, so a node booting meanwhile still finds one.
    for name, doc in synthesized.items():
        for par_name, par in _resources(doc, "oci_objectstorage_preauthrequest").items():
            assert par["access_type"] == "ObjectRead", (name, par_name)
            assert "bucket_listing_action" not in par, (name, par_name)
            assert par["lifecycle"]["ignore_changes"] == ["time_expires"], (name, par_name)
        bundles = _par_objects(doc)
        assert bundles, name
        for par_name, obj in bundles.items():
            if obj["object"].startswith("bundle-"):
                assert obj["lifecycle"] == {"create_before_destroy": True}, name
                par = _resources(doc, "oci_objectstorage_preauthrequest")[par_name]
                assert par["lifecycle"]["create_before_destroy"] is True, name
        (bucket,) = (
            _resources(doc, "oci_objectstorage_bucket").values()
            if not any("weights" in k for k in _resources(doc, "oci_objectstorage_bucket"))
            else [b for k, b in _resources(doc, "oci_objectstorage_bucket").items() if "boot" in k]
        )
        assert bucket["name"] == f"{name}-boot"
        assert bucket["access_type"] == "NoPublicAccess"


def test_no_ocids_or_secrets_are_hard_coded(synthesized: dict[str, dict[str, Any]]) -> None:
    for name, doc in synthesized.items():
        text = str(doc)
        assert not re.search(r"ocid1\.(tenancy|compartment|vaultsecret)\.", text), name
        assert {"tenancy_ocid", "compartment_ocid"} <= set(doc["variable"]), name
        for metadata in _gpu_metadata(doc):
            secret = metadata["gpuform_api_key_secret_id"]
            assert secret in ("${var.api_key_secret_ocid}", ""), name
            assert (secret != "") == ("api_key_secret_ocid" in doc["variable"]), name


def test_outputs_a_user_needs(synthesized: dict[str, dict[str, Any]]) -> None:
    for name, doc in synthesized.items():
        outputs = doc["output"]
        assert {"node_private_ips", "bastion_public_ip", "ssh_command", "nodes"} <= set(outputs)
        serving = any("gpuform-ready.service" in n["steps"] for n in outputs["nodes"]["value"])
        assert ("endpoint_url" in outputs) == serving, name
        if not serving:
            continue
        assert outputs["ssh_command"]["value"].startswith("ssh -J opc@${"), name
        assert outputs["endpoint_url"]["value"].startswith("http://${"), name


def test_gpu_image_is_looked_up_for_the_shape(synthesized: dict[str, dict[str, Any]]) -> None:
    for name, doc in synthesized.items():
        launches = [(n["shape"], n["source_details"]["source_id"]) for n in _gpu_nodes(doc)] + [
            (p["shape"], p["source_details"]["image_id"]) for p, _ in _pools(doc)
        ]
        shape, image = launches[0]
        if image == "${var.node_image_ocid}":
            continue  # a custom image (ROCm): no platform image carries its driver
        lookups = doc["data"]["oci_core_images"]
        gpu_lookup = next(v for k, v in lookups.items() if k.startswith("cluster_nodes_image"))
        assert image == "${data.oci_core_images.cluster_nodes_image.images[0].id}", name
        assert gpu_lookup["shape"] == shape, name
        assert gpu_lookup["filter"][0]["values"] == [".*GPU.*"]
        assert get_shape(shape).gpus >= 1


def test_private_subnet_routes_through_nat_and_service_gateway(
    synthesized: dict[str, dict[str, Any]],
) -> None:
    for name, doc in synthesized.items():
        subnets = _resources(doc, "oci_core_subnet")
        private = next(s for k, s in subnets.items() if k.endswith("_private"))
        assert private["prohibit_public_ip_on_vnic"] is True
        IPv4Network(private["cidr_block"])
        table_key = re.fullmatch(
            r"\$\{oci_core_route_table\.(\w+)\.id\}", private["route_table_id"]
        )
        assert table_key, name
        rules = _resources(doc, "oci_core_route_table")[table_key[1]]["route_rules"]
        targets = {r["network_entity_id"].split(".")[0].removeprefix("${"): r for r in rules}
        # Everything to the internet leaves by NAT; Oracle's services by the service gateway.
        assert targets["oci_core_nat_gateway"]["destination"] == "0.0.0.0/0", name
        sgw = targets["oci_core_service_gateway"]
        assert sgw["destination_type"] == "SERVICE_CIDR_BLOCK", name
        assert "oci_core_internet_gateway" not in targets, name
        assert _resources(doc, "oci_core_nat_gateway") and _resources(
            doc, "oci_core_service_gateway"
        )


def test_synth_is_byte_identical_across_runs(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        result = run_cli(["synth", "--out", str(out)])
        assert result.code == 0, result.stderr
        assert result.stderr == ""
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files
    for rel in files:
        assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel


BASE = """
from infra.specs import Deployment, Engine, Model, NodeGroup, StackSpec
stack = StackSpec(
    deployment=Deployment(name="bad-stack", region="us-ashburn-1", {deployment}),
    nodes=NodeGroup({nodes}),
    model=Model(id="deepseek-ai/DeepSeek-R1-Distill-Llama-8B"),
    engine=Engine({engine}),
)
"""
GOOD = {
    "deployment": 'ssh_allowed_cidrs=["198.51.100.0/24"], api_allowed_cidrs=["198.51.100.0/24"]',
    "nodes": 'shape="VM.GPU.A10.1"',
    "engine": 'kind="vllm", max_model_len=4096',
}


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"nodes": 'shape="BM.GPU.X9.8"'}, "NodeGroup.shape = 'BM.GPU.X9.8': unknown shape"),
        ({"nodes": 'shape="VM.GPU.A10.1", count=0'}, "NodeGroup.count = 0"),
        (
            {"deployment": GOOD["deployment"] + ', public_subnet_cidr="10.0.16.0/24"'},
            "overlaps private_subnet_cidr",
        ),
        (
            {"deployment": 'api_allowed_cidrs=["198.51.100.0/24"]'},
            "Deployment.ssh_allowed_cidrs: required",
        ),
        ({"engine": 'kind="triton"'}, "Engine.kind = 'triton'"),
        (
            {"deployment": GOOD["deployment"].replace("198.51.100.0/24", "0.0.0.0/0", 1)},
            "SSH open to the internet",
        ),
    ],
)
def test_bad_specs_exit_2_with_one_line_and_write_nothing(
    tmp_path: Path, override: dict[str, str], expected: str
) -> None:
    stack = tmp_path / "bad.py"
    stack.write_text(BASE.format(**{**GOOD, **override}))
    out = tmp_path / "out"
    result = run_cli(["synth", str(stack), "--out", str(out)])
    assert result.code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert "Traceback" not in result.stderr
    assert not out.exists()
    assert not list(tmp_path.glob(".out-*")), "staging directory left behind"


def test_failed_synth_leaves_previous_output_untouched(tmp_path: Path) -> None:
    out = tmp_path / "out"
    good = run_cli(["synth", "r1_distill_llama_8b_vllm", "--out", str(out)])
    assert good.code == 0, good.stderr
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    bad = tmp_path / "bad.py"
    bad.write_text(BASE.format(**{**GOOD, "nodes": 'shape="VM.GPU.A10.1", count=0'}))
    assert run_cli(["synth", str(bad), "--out", str(out)]).code == 2
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_stacks_table_lists_every_example(examples: dict[str, StackSpec]) -> None:
    result = run_cli(["stacks"])
    assert result.code == 0, result.stderr
    for name, spec in examples.items():
        assert name in result.stdout
        assert spec.nodes.shape in result.stdout
    assert "98.00" in result.stdout  # one BM.GPU.H200.8 node


def _bundle_files(obj: dict[str, Any]) -> dict[str, str]:
    archive = base64.b64decode(obj["content"])
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        return {
            "/" + m.name: fh.read().decode()
            for m in tar.getmembers()
            if (fh := tar.extractfile(m)) is not None
        }


def test_render_prints_what_the_node_boots_with(synthesized: dict[str, dict[str, Any]]) -> None:
    doc = synthesized["deepseek-r1-h200"]
    (node,) = _gpu_nodes(doc)
    shipped = gzip.decompress(base64.b64decode(node["metadata"]["user_data"])).decode()
    stage0 = run_cli(["render", "deepseek-r1-h200", "--node", "0", "--stage0"])
    assert stage0.code == 0, stage0.stderr
    assert stage0.stdout == shipped
    # Without --stage0: one cloud-config writing every file the uploaded bundle holds.
    full = run_cli(["render", "deepseek-r1-h200", "--node", "0"])
    assert full.code == 0, full.stderr
    written = {f["path"]: f["content"] for f in yaml.safe_load(full.stdout)["write_files"]}
    (bundle,) = _bundles_of(doc, node["metadata"])
    assert written == _bundle_files(bundle)
    assert _pinned(shipped)[0] in full.stdout.splitlines()[1]
    too_far = run_cli(["render", "deepseek-r1-h200", "--node", "3"])
    assert too_far.code == 2
    assert "has 1 node(s); use 0 to 0" in too_far.stderr


def test_render_and_nodes_show_a_cluster_networks_one_shared_user_data(
    synthesized: dict[str, dict[str, Any]],
) -> None:
    doc = synthesized["deepseek-r1-rl"]
    (config,) = doc["resource"]["oci_core_instance_configuration"].values()
    metadata = config["instance_details"]["launch_details"]["metadata"]
    shipped = gzip.decompress(base64.b64decode(metadata["user_data"])).decode()
    head, worker = _bundles_of(doc, metadata)
    for node, bundle in (("0", head), ("9", worker)):
        result = run_cli(["render", "deepseek-r1-rl", "--node", node, "--stage0"])
        assert result.code == 0, result.stderr
        assert result.stdout == shipped
        full = run_cli(["render", "deepseek-r1-rl", "--node", node])
        written = {f["path"]: f["content"] for f in yaml.safe_load(full.stdout)["write_files"]}
        assert written == _bundle_files(bundle)
    table = run_cli(["nodes", "deepseek-r1-rl"])
    for bundle in (head, worker):
        sha = bundle["object"].removeprefix("bundle-")[:12]
        size = len(base64.b64decode(bundle["content"]))
        assert sum(sha in line and f"{size:,} B" in line for line in table.stdout.splitlines())
    assert table.stdout.count(f"{len(metadata['user_data']):,} B shared") == 16


def test_unknown_stack_name_is_one_line() -> None:
    result = run_cli(["synth", "no-such-stack", "--out", "/nonexistent/x"])
    assert result.code == 2
    assert result.stderr.count("\n") == 1
    assert "known:" in result.stderr


REPLICAS = BASE.replace(
    'Model(id="deepseek-ai/DeepSeek-R1-Distill-Llama-8B")',
    'Model(id="deepseek-ai/DeepSeek-R1", precision="fp8")',
).format(
    deployment=GOOD["deployment"],
    nodes='shape="BM.GPU.H100.8", count={count}',
    engine='kind="vllm"',
)


def test_replicas_have_their_own_heads_behind_the_load_balancer(tmp_path: Path) -> None:
    # R1 fp8 needs 2 x BM.GPU.H100.8 per replica; 4 nodes are two replicas.
    stack = tmp_path / "replicas.py"
    stack.write_text(REPLICAS.replace("{count}", "4"))
    result = run_cli(["synth", str(stack), "--out", str(tmp_path / "out")])
    assert result.code == 0, result.stderr
    doc = json.loads((tmp_path / "out/stacks/bad-stack/cdk.tf.json").read_text())
    nodes = {r["freeform_tags"]["gpuform-node-index"]: r for r in _gpu_nodes(doc)}
    assert sorted(nodes) == ["0", "1", "2", "3"]
    head_ip = {i: n["metadata"]["gpuform_head_ip"] for i, n in nodes.items()}
    assert head_ip == {
        "0": "",
        "1": "${oci_core_instance.cluster_nodes_node_0.private_ip}",
        "2": "",
        "3": "${oci_core_instance.cluster_nodes_node_2.private_ip}",
    }
    backends = _resources(doc, "oci_network_load_balancer_backend").values()
    assert sorted(b["target_id"] for b in backends) == [
        "${oci_core_instance.cluster_nodes_node_0.id}",
        "${oci_core_instance.cluster_nodes_node_2.id}",
    ]


def test_a_count_that_splits_a_replica_is_refused(tmp_path: Path) -> None:
    stack = tmp_path / "three.py"
    stack.write_text(REPLICAS.replace("{count}", "3"))
    result = run_cli(["synth", str(stack), "--out", str(tmp_path / "out")])
    assert result.code == 2
    assert result.stderr.strip() == (
        "gpuform: stack 'bad-stack': nodes.count = 3: one replica of DeepSeek-R1 spans "
        "2 x BM.GPU.H100.8; use a multiple of 2"
    )
    assert not (tmp_path / "out").exists()


def test_state_lives_outside_the_output_and_init_survives_resynth(tmp_path: Path) -> None:
    out = tmp_path / "cdktf.out"
    assert run_cli(["synth", "r1_distill_llama_8b_vllm", "--out", str(out)]).code == 0
    stack_dir = out / "stacks" / "r1-distill-llama-8b"
    doc = json.loads((stack_dir / "cdk.tf.json").read_text())
    state = (stack_dir / doc["terraform"]["backend"]["local"]["path"]).resolve()
    # Beside the output folder, so replacing the output on every synth never touches it.
    assert state == tmp_path / "terraform.r1-distill-llama-8b.tfstate"
    (stack_dir / ".terraform" / "providers").mkdir(parents=True)
    (stack_dir / ".terraform.lock.hcl").write_text("# lock\n")
    assert run_cli(["synth", "r1_distill_llama_8b_vllm", "--out", str(out)]).code == 0
    assert (stack_dir / ".terraform" / "providers").is_dir()
    assert (stack_dir / ".terraform.lock.hcl").read_text() == "# lock\n"


def test_terraform_itself_writes_state_where_the_backend_says(tmp_path: Path) -> None:
    # The OCI provider cannot be installed here, so this applies a provider-less config that
    # carries the synthesized backend block verbatim, from a folder at the same depth as the
    # stack's own (<out>/stacks/<x>/), where `make deploy` and `cdktf deploy` run terraform.
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not on PATH")
    out = tmp_path / "cdktf.out"
    assert run_cli(["synth", "r1_distill_llama_8b_vllm", "--out", str(out)]).code == 0
    synthesized = json.loads((out / "stacks/r1-distill-llama-8b/cdk.tf.json").read_text())
    probe = out / "stacks" / "probe"
    probe.mkdir()
    config = {
        "terraform": {"backend": synthesized["terraform"]["backend"]},
        "output": {"probe": {"value": "ok"}},
    }
    (probe / "main.tf.json").write_text(json.dumps(config))
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
    for args in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false"]):
        done = subprocess.run(
            [terraform, f"-chdir={probe}", *args],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "terraform.r1-distill-llama-8b.tfstate").is_file()


def test_a_newer_platform_image_does_not_replace_running_nodes(
    synthesized: dict[str, dict[str, Any]],
) -> None:
    for name, doc in synthesized.items():
        for instance in _resources(doc, "oci_core_instance").values():
            source = instance["source_details"]["source_id"]
            if source == "${var.node_image_ocid}":
                # A custom image changes only when its variable does, on purpose.
                assert "lifecycle" not in instance, name
                continue
            assert source.startswith("${data.oci_core_images.")
            assert instance["lifecycle"] == {"ignore_changes": ["source_details[0].source_id"]}, (
                name
            )


def test_a_folder_without_stacks_is_one_line_not_silence(tmp_path: Path) -> None:
    for command in (["synth"], ["stacks"]):
        result = run_cli(command, cwd=tmp_path)
        assert result.code == 2
        assert result.stderr == (
            "gpuform: stacks: no such folder; run gpuform where your stacks/ folder is, "
            "or pass --stacks-dir\n"
        )
    (tmp_path / "stacks").mkdir()
    result = run_cli(["synth"], cwd=tmp_path)
    assert result.code == 2
    assert "stacks: no stack files; add a .py file" in result.stderr
    assert not (tmp_path / "cdktf.out").exists()


def test_instances_answer_only_imds_v2(synthesized: dict[str, dict[str, Any]]) -> None:
    for name, doc in synthesized.items():
        for instance in _resources(doc, "oci_core_instance").values():
            options = instance["instance_options"]
            assert options == {"are_legacy_imds_endpoints_disabled": True}, name


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["render", "r1-distill-llama-8b", "--node", "-1"],
            "gpuform: Invalid value for '--node': Input should be greater than or equal to 0; "
            "see `gpuform render --help`",
        ),
        (
            ["synth", "--bogus"],
            "gpuform: No such option: --bogus (Possible options: --out); "
            "see `gpuform synth --help`",
        ),
        (["render"], "gpuform: Missing argument 'name'; see `gpuform render --help`"),
        (["nosuchcmd"], "gpuform: No such command 'nosuchcmd'; see `gpuform --help`"),
    ],
)
def test_usage_errors_are_one_line_too(args: list[str], line: str) -> None:
    result = run_cli(args)
    assert result.code == 2
    assert result.stderr == line + "\n"
    assert result.stdout == ""


def test_depends_on_names_bare_addresses(synthesized: dict[str, dict[str, Any]]) -> None:
    """Terraform's JSON syntax takes `depends_on` entries as `TYPE.NAME`; a "${...}" template
    there stops `terraform validate` before a single provider call."""
    seen = 0
    for name, doc in synthesized.items():
        for kind in ("resource", "data"):
            for blocks in doc.get(kind, {}).values():
                for block_name, block in blocks.items():
                    for ref in block.get("depends_on", []):
                        seen += 1
                        assert re.fullmatch(r"(data\.)?oci_\w+\.\w+", ref), (name, block_name, ref)
    assert seen, "no example stack has a depends_on: the check above checked nothing"
