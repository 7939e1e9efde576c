"""What a real OCI tenancy does that a plain synth or render would not show (issue 8).

Synthesized stacks: identity through the home region, the NLB's public address, in-transit
encryption as the instance's own argument, a dynamic group of the GPU nodes alone, a policy
after it, per-engine health-check timeouts, no secret for an engine without API keys. Rendered
nodes: the host firewall, the root disk, NVSwitch and ROCm checks, the render group, the
packaged OCI CLI and a bounded key fetch. Refusals: combinations that cannot work on OCI.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from infra.catalog.shapes import get_shape
from infra.engines import driver
from infra.engines.sglang import DIST_INIT_PORT
from infra.engines.topology import Topology
from infra.node_plan import NodePlan, plan_nodes
from infra.render.context import serve_inputs
from infra.render.steps import step, steps_for, unit_deps
from infra.sizing.settings import resolve
from infra.specs import Endpoint, Engine, Image, Model, NodeGroup, StackSpec

from .conftest import run_cli
from .factories import deployment

Doc = dict[str, Any]
LIB = "/usr/local/lib/gpuform"
UNITS = "/etc/systemd/system"
DEPLOYMENT = deployment(
    "tenancy",
    region="eu-frankfurt-1",
    vcn_cidr="10.7.0.0/16",
    public_subnet_cidr="10.7.0.0/24",
    private_subnet_cidr="10.7.16.0/20",
)
UBUNTU_GPU = Image(operating_system="Canonical Ubuntu", custom=True)
R1 = Model(id="deepseek-ai/DeepSeek-R1", precision="fp8")
LLAMA_70B = Model(id="deepseek-ai/DeepSeek-R1-Distill-Llama-70B")
DISTILL = Model(id="deepseek-ai/DeepSeek-R1-Distill-Llama-8B")


def _stack(nodes: NodeGroup, model: Model, engine: Engine, **kw: Any) -> StackSpec:
    return StackSpec(deployment=DEPLOYMENT, nodes=nodes, model=model, engine=engine, **kw)


def _plan(stack: StackSpec) -> tuple[NodePlan, ...]:
    return plan_nodes(stack, resolve(stack))


def _resources(doc: Doc, tf_type: str) -> dict[str, Doc]:
    return dict(doc.get("resource", {}).get(tf_type, {}))


def _gpu_nodes(doc: Doc) -> dict[str, Doc]:
    return {
        k: r
        for k, r in _resources(doc, "oci_core_instance").items()
        if r["freeform_tags"].get("gpuform-role") in ("head", "worker")
    }


# --- synthesized stacks --------------------------------------------------------------------


def test_identity_resources_go_through_the_home_region(synthesized: dict[str, Doc]) -> None:
    """Item 2: IAM is created in the tenancy's home region, found from the tenancy itself."""
    checked = 0
    for name, doc in synthesized.items():
        identity = {
            **_resources(doc, "oci_identity_dynamic_group"),
            **_resources(doc, "oci_identity_policy"),
        }
        providers = doc["provider"]["oci"]
        if not identity:
            assert len(providers) == 1, name  # nothing needs the home region
            continue
        checked += 1
        assert {r.get("provider") for r in identity.values()} == {"oci.home"}, name
        (home,) = [p for p in providers if p.get("alias") == "home"]
        (default,) = [p for p in providers if "alias" not in p]
        assert default["region"] == synthesized_region(doc, name)
        match = re.fullmatch(
            r"\$\{data\.oci_identity_regions\.(\w+)\.regions\[0\]\.name\}", home["region"]
        )
        assert match, (name, home)
        regions = doc["data"]["oci_identity_regions"][match[1]]
        (key,) = regions["filter"][0]["values"]
        assert regions["filter"][0]["name"] == "key"
        tenancy = re.fullmatch(r"\$\{data\.oci_identity_tenancy\.(\w+)\.home_region_key\}", key)
        assert tenancy, key
        assert doc["data"]["oci_identity_tenancy"][tenancy[1]]["tenancy_id"] == (
            "${var.tenancy_ocid}"
        )
        assert home["tenancy_ocid"] == default["tenancy_ocid"]
        assert home["config_file_profile"] == default["config_file_profile"]
        # Everything else stays in the stack's own region.
        others = [
            r
            for t, rs in doc["resource"].items()
            if not t.startswith("oci_identity_")
            for r in rs.values()
        ]
        assert all("provider" not in r for r in others), name
    assert checked >= 3  # three of the examples are outside any likely home region


def synthesized_region(doc: Doc, name: str) -> str:
    (default,) = [p for p in doc["provider"]["oci"] if "alias" not in p]
    region: str = default["region"]
    assert re.fullmatch(r"[a-z]{2}-[a-z]+-\d", region), name
    return region


def test_endpoint_url_is_the_load_balancers_public_address(synthesized: dict[str, Doc]) -> None:
    """Item 8: ip_addresses lists the private address too; pick the entry with is_public."""
    for name, doc in synthesized.items():
        if "endpoint_url" not in doc["output"]:
            continue
        (nlb,) = _resources(doc, "oci_network_load_balancer_network_load_balancer")
        url = doc["output"]["endpoint_url"]["value"]
        address = (
            f"${{[for a in oci_network_load_balancer_network_load_balancer.{nlb}.ip_addresses"
            " : a.ip_address if a.is_public][0]}"
        )
        assert url.startswith(f"http://{address}:"), (name, url)
        assert "ip_addresses[0]" not in str(doc["output"]), name


def test_in_transit_encryption_is_the_instances_own_argument(
    synthesized: dict[str, Doc],
) -> None:
    """Item 9: launch_options.is_pv_encryption_in_transit_enabled is deprecated at create."""
    vms = 0
    for name, doc in synthesized.items():
        for key, inst in _resources(doc, "oci_core_instance").items():
            assert "launch_options" not in inst, (name, key)
            # Paravirtualized boot volumes (VMs, the bastion's too); bare metal boots over iSCSI.
            if inst["shape"].startswith("VM."):
                vms += 1
                assert inst["is_pv_encryption_in_transit_enabled"] is True, (name, key)
            else:
                assert "is_pv_encryption_in_transit_enabled" not in inst, (name, key)
    assert vms >= 7  # every bastion and the A10 example


def test_dynamic_group_admits_the_gpu_nodes_by_id_and_nothing_else(
    synthesized: dict[str, Doc],
) -> None:
    """Item 10: the public bastion (and anything else in the compartment) cannot read the key;
    item 11: the policy comes after the group, which comes after the nodes it names."""
    for name, doc in synthesized.items():
        groups = _resources(doc, "oci_identity_dynamic_group")
        if not groups:
            continue
        ((group_key, group),) = groups.items()
        nodes = sorted(_gpu_nodes(doc))
        expected = ", ".join(f"instance.id = '${{oci_core_instance.{n}.id}}'" for n in nodes)
        assert group["matching_rule"] == f"ANY {{{expected}}}", name
        assert "bastion" not in group["matching_rule"]
        assert "compartment" not in group["matching_rule"]
        ((_, policy),) = _resources(doc, "oci_identity_policy").items()
        assert policy["depends_on"] == [f"oci_identity_dynamic_group.{group_key}"], name
        for statement in policy["statements"]:
            assert statement.startswith(f"Allow dynamic-group {group['name']} to read "), name


def test_nodes_fetch_the_key_with_bounded_backoff() -> None:
    """Item 11: IAM is eventually consistent; the fetch retries, within a bound."""
    node = _plan(_stack(NodeGroup(shape="BM.GPU.H100.8"), LLAMA_70B, Engine(kind="vllm")))[0]
    script = node.files[f"{LIB}/api-key.sh"]
    limit = node.context.limits.secret_retry_s
    assert re.search(r"until b64=\$\(timeout 120 \"\$oci\" secrets secret-bundle get", script)
    assert f"deadline=$((SECONDS + {limit}))" in script
    assert "wait_s=$((wait_s * 2 > 120 ? 120 : wait_s * 2))" in script
    unit = node.files[f"{UNITS}/gpuform-api-key.service"]
    assert f"TimeoutStartSec={limit + 600}" in unit


@pytest.mark.parametrize(("engine", "timeout"), [("sglang", 10_000), ("vllm", 3_000)])
def test_health_check_timeout_comes_from_the_engine(
    synthesized: dict[str, Doc], examples: dict[str, StackSpec], engine: str, timeout: int
) -> None:
    """Item 13: SGLang's /health generates a token; 3 s is too short for it."""
    names = [
        n
        for n, s in examples.items()
        if isinstance(s, StackSpec) and s.engine.kind == engine and n in synthesized
    ]
    assert names
    for name in names:
        for bs in _resources(synthesized[name], "oci_network_load_balancer_backend_set").values():
            check = bs["health_checker"]
            assert check["timeout_in_millis"] == timeout, name
            assert check["interval_in_millis"] > check["timeout_in_millis"], name


def test_an_engine_without_api_keys_gets_no_secret_or_iam(
    synthesized: dict[str, Doc], examples: dict[str, StackSpec]
) -> None:
    """Item 14: Ollama cannot check a key; its stack needs no secret, group or policy."""
    (name,) = [
        n for n, s in examples.items() if isinstance(s, StackSpec) and s.engine.kind == "ollama"
    ]
    doc = synthesized[name]
    assert "api_key_secret_ocid" not in doc["variable"]
    assert not _resources(doc, "oci_identity_dynamic_group")
    assert not _resources(doc, "oci_identity_policy")
    assert all(n["metadata"]["gpuform_api_key_secret_id"] == "" for n in _gpu_nodes(doc).values())


def test_custom_images_come_from_a_variable(synthesized: dict[str, Doc]) -> None:
    """Items 3 and 15: AMD nodes boot an imported ROCm image, named by TF_VAR_node_image_ocid."""
    amd = [
        n
        for n, d in synthesized.items()
        if any(get_shape(i["shape"]).vendor == "amd" for i in _gpu_nodes(d).values())
    ]
    assert amd
    for name in amd:
        doc = synthesized[name]
        assert "node_image_ocid" in doc["variable"], name
        for inst in _gpu_nodes(doc).values():
            assert inst["source_details"]["source_id"] == "${var.node_image_ocid}"


# --- rendered nodes ------------------------------------------------------------------------


def test_each_driver_opens_every_port_its_command_listens_on() -> None:
    """The firewall's ports come from the driver; they must cover what the argv binds."""
    cases = [
        _stack(NodeGroup(shape="BM.GPU.H100.8"), LLAMA_70B, Engine(kind="vllm", port=8111)),
        _stack(NodeGroup(shape="BM.GPU.H100.8"), LLAMA_70B, Engine(kind="tgi")),
        _stack(
            NodeGroup(shape="BM.GPU.H100.8"), Model(id="deepseek-r1:70b"), Engine(kind="ollama")
        ),
        # One SGLang replica over two nodes: rank 0 hosts the dist-init rendezvous.
        _stack(NodeGroup(shape="BM.GPU.H100.8", count=2), R1, Engine(kind="sglang")),
    ]
    for stack in cases:
        settings = resolve(stack)
        for node in plan_nodes(stack, settings):
            ports = set(driver(stack.engine.kind).ports(serve_inputs(stack, node.index, settings)))
            argv = " ".join(str(a) for a in node.context.engine.command.argv)  # type: ignore[union-attr]
            env = dict(node.context.engine.command.env)  # type: ignore[union-attr]
            # SGLang's ranks above 0 take --port too but start no HTTP server.
            serves = node.serves_http
            listens = {int(p) for p in re.findall(r"--port (\d+)", argv)} if serves else set()
            if "OLLAMA_HOST" in env:
                listens.add(int(env["OLLAMA_HOST"].rsplit(":", 1)[1]))
            if node.rank == 0 and "--dist-init-addr" in argv:
                listens.add(DIST_INIT_PORT)
            assert listens <= ports, (stack.engine.kind, node.index, listens, ports)
            fw = node.context.firewall
            assert fw is not None and set(fw.tcp_ports) == ports
            assert fw.vcn_cidr == "10.7.0.0/16"
            assert fw.peer_tcp_all == (settings.topology.nodes_per_replica > 1)


def test_firewall_script_per_os() -> None:
    dnf = _plan(_stack(NodeGroup(shape="BM.GPU.H100.8"), LLAMA_70B, Engine(kind="vllm")))[0]
    script = dnf.files[f"{LIB}/firewall.sh"]
    assert "firewall-cmd --permanent --add-rich-rule=" in script
    assert 'rule family=\\"ipv4\\" source address=\\"$src\\" port port=\\"$p\\"' in script
    assert "src=10.7.0.0/16" in script and "ports=(8000)" in script
    assert "firewall-cmd --reload" in script and "iptables -" not in script
    apt = _plan(
        _stack(NodeGroup(shape="BM.GPU.H100.8", image=UBUNTU_GPU), LLAMA_70B, Engine(kind="sglang"))
    )[0]
    script = apt.files[f"{LIB}/firewall.sh"]
    assert 'iptables -I INPUT 1 "$@" -j ACCEPT' in script and "ports=(30000)" in script
    assert "netfilter-persistent save" in script and "/etc/iptables/rules.v4" in script
    assert "firewall-cmd" not in script


def test_multi_node_replicas_open_every_tcp_port_to_the_vcn_alone() -> None:
    head, worker = _plan(
        _stack(
            NodeGroup(shape="BM.GPU.H100.8", count=2, image=UBUNTU_GPU), R1, Engine(kind="sglang")
        )
    )
    assert head.context.firewall is not None and worker.context.firewall is not None
    assert set(head.context.firewall.tcp_ports) == {30000, DIST_INIT_PORT}
    assert worker.context.firewall.tcp_ports == ()
    for node in (head, worker):
        script = node.files[f"{LIB}/firewall.sh"]
        assert 'accept -s "$src" -p tcp -m comment --comment "gpuform: replica peers"' in script


def test_firewall_orders_before_anything_that_listens() -> None:
    stack = _stack(NodeGroup(shape="BM.GPU.H100.8"), LLAMA_70B, Engine(kind="vllm"))
    ctx = _plan(stack)[0].context
    present = steps_for(ctx)
    names = [s.name for s in present]
    assert names.index("firewall") < names.index("engine")
    fw = step("firewall").unit
    assert fw in unit_deps(step("runtime"), present).after
    assert fw in unit_deps(step("engine"), present).after
    # ready.sh probes 127.0.0.1; a node whose firewall failed is not ready.
    assert fw in unit_deps(step("ready"), present).requires


def test_root_filesystem_grows_per_os_and_docker_lives_on_nvme() -> None:
    dnf = _plan(_stack(NodeGroup(shape="BM.GPU.H100.8"), LLAMA_70B, Engine(kind="vllm")))[0]
    assert "/usr/libexec/oci-growfs -y" in dnf.files[f"{LIB}/growfs.sh"]
    runtime = dnf.files[f"{LIB}/runtime.sh"]
    assert 'conf["data-root"] = root' in runtime and "/mnt/localdisk/docker" in runtime
    # daemon.json is written before docker is installed (the package starts docker).
    assert runtime.index("data-root") < runtime.index("dnf install")
    apt = _plan(
        _stack(
            NodeGroup(shape="VM.GPU.A10.1", image=UBUNTU_GPU),
            DISTILL,
            Engine(kind="vllm", max_model_len=4096),
        )
    )[0]
    growfs = apt.files[f"{LIB}/growfs.sh"]
    assert "growpart" in growfs and "resize2fs" in growfs and "xfs_growfs" in growfs
    assert "data-root" not in apt.files[f"{LIB}/runtime.sh"]  # no NVMe on an A10 VM
    deps = unit_deps(step("runtime"), steps_for(dnf.context))
    assert "gpuform-localdisk.service" in deps.wants and "gpuform-growfs.service" in deps.after


def test_gpu_check_knows_nvswitch_and_rocm() -> None:
    h100 = _plan(_stack(NodeGroup(shape="BM.GPU.H100.8"), LLAMA_70B, Engine(kind="vllm")))[0]
    check = h100.files[f"{LIB}/gpu-check.sh"]
    assert "systemctl is-active --quiet nvidia-fabricmanager.service" in check
    assert "nvidia-fabricmanager active" in check
    l40s = _plan(_stack(NodeGroup(shape="BM.GPU.L40S.4"), DISTILL, Engine(kind="vllm")))[0]
    assert "fabricmanager" not in l40s.files[f"{LIB}/gpu-check.sh"]
    nvswitch = {n for n in ("BM.GPU.H100.8", "BM.GPU.H200.8", "BM.GPU.A100-v2.8", "BM.GPU4.8")}
    for name in (
        "BM.GPU.H100.8",
        "BM.GPU.H200.8",
        "BM.GPU.A100-v2.8",
        "BM.GPU4.8",
        "BM.GPU.L40S.4",
        "BM.GPU.MI300X.8",
        "VM.GPU.A10.1",
    ):
        assert get_shape(name).nvswitch == (name in nvswitch), name
    amd = _plan(
        _stack(NodeGroup(shape="BM.GPU.MI300X.8", image=UBUNTU_GPU), LLAMA_70B, Engine(kind="vllm"))
    )[0]
    check = amd.files[f"{LIB}/gpu-check.sh"]
    assert "[ -e /dev/kfd ]" in check and '"$smi" --showid' in check
    assert "rocm-smi" in check


def test_amd_containers_get_the_hosts_render_gid() -> None:
    """Item 4: ollama/ollama:*-rocm has no render group; pass the host's number."""
    node = _plan(
        _stack(
            NodeGroup(shape="BM.GPU.MI300X.8", image=UBUNTU_GPU),
            Model(id="deepseek-r1:70b"),
            Engine(kind="ollama"),
        )
    )[0]
    run = node.files[f"{LIB}/engine-run.sh"]
    assert "render_gid=$(getent group render | cut -d: -f3 || true)" in run
    assert 'args+=(--group-add "$render_gid")' in run
    assert "--group-add render" not in run and "'render'" not in run
    assert "the host has no render group" in run or "this host has no render group" in run


def test_oracle_linux_uses_the_packaged_oci_cli() -> None:
    """Item 6: OL8's python3 is 3.6, where pip builds cryptography; the CLI comes from dnf."""
    node = _plan(_stack(NodeGroup(shape="BM.GPU.H100.8"), LLAMA_70B, Engine(kind="vllm")))[0]
    script = node.files[f"{LIB}/oci-client.sh"]
    assert "8) pkg=python36-oci-cli py=/usr/bin/python3.6" in script
    assert "9) pkg=python39-oci-cli py=/usr/bin/python3.9" in script
    assert 'dnf install -y "oraclelinux-developer-release-el$major"' in script
    assert "pip install" not in script
    assert "the node needs internet access" in script


def test_ollama_keeps_its_model_loaded() -> None:
    node = _plan(
        _stack(NodeGroup(shape="BM.GPU.H100.8"), Model(id="deepseek-r1:70b"), Engine(kind="ollama"))
    )[0]
    assert ("OLLAMA_KEEP_ALIVE", "-1") in node.context.engine.command.env  # type: ignore[union-attr]
    assert "OLLAMA_KEEP_ALIVE=-1" in node.files[f"{LIB}/engine-run.sh"]


@pytest.mark.parametrize(
    ("gb", "tp", "expected"),
    [(80, 8, 0.819), (141, 8, 0.897), (192, 8, 0.862), (24, 1, 0.847), (48, 4, 0.848)],
)
def test_sglang_memory_share_follows_its_own_rule(gb: float, tp: int, expected: float) -> None:
    """Item 12: v0.5.4's _handle_gpu_memory_settings; about 0.82 on 80 GB at TP8."""
    topo = Topology(tp=tp, pp=1, nodes_per_replica=1, gpus_per_node=tp)
    assert driver("sglang").memory.default_fraction(gb, topo) == expected


def test_sglang_renders_the_fraction_the_planner_used() -> None:
    stack = _stack(NodeGroup(shape="BM.GPU.H100.8"), LLAMA_70B, Engine(kind="sglang"))
    settings = resolve(stack)
    fraction = settings.gpu_memory_fraction
    # About 0.82 for the H100's 80 GB at TP8 (the exact figure follows the GPU's capacity).
    assert fraction is not None and 0.81 <= fraction <= 0.83, fraction
    argv = [str(a) for a in _plan(stack)[0].context.engine.command.argv]  # type: ignore[union-attr]
    assert argv[argv.index("--mem-fraction-static") + 1] == f"{fraction:g}"
    assert "--tp-size" in argv and "--tp" not in argv


def test_each_os_has_its_own_default_version() -> None:
    """Item 15: "8" is Oracle Linux's version, not Ubuntu's."""
    assert Image().operating_system_version == "8"
    assert Image(operating_system="Canonical Ubuntu").operating_system_version == "22.04"


# --- refusals ------------------------------------------------------------------------------

BASE = """
from infra.specs import Deployment, Engine, Image, Model, NodeGroup, StackSpec
stack = StackSpec(
    deployment=Deployment(name="bad-stack", region="us-ashburn-1",
        ssh_allowed_cidrs=["198.51.100.0/24"], api_allowed_cidrs=["198.51.100.0/24"]),
    nodes=NodeGroup({nodes}),
    model=Model(id="deepseek-ai/DeepSeek-R1-Distill-Llama-70B"),
    engine=Engine({engine}),
)
"""


@pytest.mark.parametrize(
    ("nodes", "engine", "expected"),
    [
        # Item 3: no platform image carries ROCm.
        (
            'shape="BM.GPU.MI300X.8"',
            'kind="vllm"',
            "NodeGroup: image: BM.GPU.MI300X.8 has AMD GPUs and no OCI platform image carries "
            "ROCm; import a ROCm image",
        ),
        (
            'shape="BM.GPU.MI300X.8", image=Image(operating_system="Canonical Ubuntu")',
            'kind="sglang"',
            "has AMD GPUs and no OCI platform image carries ROCm",
        ),
        # Item 15: Canonical's platform images carry no GPU driver, and the apt path installs
        # none.
        (
            'shape="BM.GPU.H100.8", image=Image(operating_system="Canonical Ubuntu")',
            'kind="vllm"',
            "Canonical Ubuntu platform images carry no NVIDIA driver for BM.GPU.H100.8",
        ),
        (
            'shape="BM.GPU.H100.8", image=Image(operating_system_version="7")',
            'kind="vllm"',
            "OCI publishes Oracle Linux platform images for 8 and 9",
        ),
        # A ROCm build cannot run on NVIDIA GPUs.
        (
            'shape="BM.GPU.H100.8"',
            'kind="vllm", image="rocm/vllm"',
            "is a ROCm build but BM.GPU.H100.8 has NVIDIA GPUs",
        ),
    ],
)
def test_known_broken_combinations_are_refused_in_one_line(
    tmp_path: Path, nodes: str, engine: str, expected: str
) -> None:
    stack = tmp_path / "bad.py"
    stack.write_text(BASE.format(nodes=nodes, engine=engine))
    result = run_cli(["synth", str(stack), "--out", str(tmp_path / "out")])
    assert result.code == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0], lines[0]
    assert not (tmp_path / "out").exists()


def test_custom_images_are_accepted_where_platform_images_are_refused() -> None:
    for image in (Image(custom=True), Image(ocid="ocid1.image.oc1.iad.aaaaaaaarocm")):
        NodeGroup(shape="BM.GPU.MI300X.8", image=image)
    NodeGroup(shape="BM.GPU.H100.8", image=UBUNTU_GPU)
    _ = Endpoint()  # the default endpoint asks for a key
