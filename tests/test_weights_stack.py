"""Weight caches in specs, Terraform and the rendered node: what a stack with `weights` gets."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from infra.constructs.access import InstanceAccess, InstanceAccessProps
from infra.constructs.weight_store import WeightStore, WeightStoreProps
from infra.node_plan import plan_nodes
from infra.render.weights_part import shipped_fetcher
from infra.sizing.settings import resolve
from infra.specs import (
    Engine,
    EngineKind,
    Model,
    NodeGroup,
    StackSpec,
    WeightCache,
    WeightVolume,
    one_line,
)
from infra.tf import oci
from infra.tf.cdk import Construct
from infra.tf.schema import check_terraform_json

from .factories import deployment
from .narrow import synth_construct
from .test_render_validators import assert_silent, shellcheck_files

LIB = "/usr/local/lib/gpuform"
BACKUP = "ocid1.volumebackup.oc1.iad.aaaaweights"
FUTURE = datetime(2099, 1, 1, tzinfo=UTC)
DEP = deployment("wts")
LLAMA_70B = Model(id="deepseek-ai/DeepSeek-R1-Distill-Llama-70B")


def _stack(weights: WeightCache | None, kind: EngineKind = "vllm", **nodes: Any) -> StackSpec:
    return StackSpec(
        deployment=DEP,
        nodes=NodeGroup(shape=nodes.pop("shape", "BM.GPU.H100.8"), **nodes),
        model=LLAMA_70B,
        engine=Engine(kind=kind),
        weights=weights,
    )


# --- specs: bad values are one line naming the field, the value and the fix -----------------


@pytest.mark.parametrize(
    ("build", "words"),
    [
        (lambda: WeightCache(bucket="-bad"), "WeightCache.bucket = '-bad'"),
        (lambda: WeightCache(bucket="b", prefix="/x/"), "WeightCache.prefix = '/x/'"),
        (
            lambda: WeightCache(bucket="b", par_expires=datetime(2020, 1, 1, tzinfo=UTC)),
            "is in the past",
        ),
        (lambda: WeightCache(bucket="b", par_expires=datetime(2099, 1, 1)), "give a timezone"),
        (lambda: WeightVolume(size_gb=10), "WeightVolume.size_gb = 10"),
        (lambda: WeightVolume(size_gb=100, vpus_per_gb=15), "WeightVolume.vpus_per_gb = 15"),
        (lambda: WeightVolume(size_gb=100, backup_id="ocid1.volume.x"), "not a volume backup"),
        (lambda: WeightVolume(size_gb=100, mode="shared-read-only"), "needs volume.backup_id"),
        (
            lambda: WeightVolume(
                size_gb=100, mode="shared-read-only", backup_id=BACKUP, vpus_per_gb=40
            ),
            "multipath",
        ),
        (lambda: _stack(WeightCache(bucket="b"), kind="ollama"), "Ollama pulls its own"),
        (
            lambda: _stack(
                WeightCache(
                    bucket="b",
                    volume=WeightVolume(size_gb=100, mode="shared-read-only", backup_id=BACKUP),
                ),
                count=33,
            ),
            "OCI allows 32",
        ),
    ],
)
def test_bad_weight_settings_are_one_line(build: Any, words: str) -> None:
    with pytest.raises(ValidationError) as err:
        build()
    line = one_line(err.value)
    assert "\n" not in line and words in line, line


# --- Terraform: the construct alone, then a whole stack ---------------------------------------


def _instances(scope: Construct, n: int) -> list[oci.CoreInstance]:
    return [
        oci.CoreInstance(
            scope,
            f"node_{i}",
            oci.CoreInstanceArgs(
                availability_domain="AD-1",
                compartment_id="c",
                shape="BM.GPU.H100.8",
                create_vnic_details=oci.CreateVnicDetails(subnet_id="s"),
                source_details=oci.InstanceSourceDetails(source_id="img"),
                metadata={},
            ),
        )
        for i in range(n)
    ]


def _all(doc: dict[str, Any], tf_type: str) -> list[dict[str, Any]]:
    return list(doc.get("resource", {}).get(tf_type, {}).values())


def test_a_private_bucket_a_read_only_par_and_one_shared_volume(tmp_path: Path) -> None:
    spec = WeightCache(
        bucket="models",
        par_expires=FUTURE,
        volume=WeightVolume(
            size_gb=2048, vpus_per_gb=20, mode="shared-read-only", backup_id=BACKUP
        ),
    )

    def build(s: Construct) -> None:
        cache = WeightStore(s, "w", WeightStoreProps("wts", "c", "us-ashburn-1", spec))
        cache.attach(_instances(s, 3), "AD-1", bare_metal=True)
        assert cache.par_url.startswith("https://objectstorage.us-ashburn-1.oraclecloud.com${")

    doc = synth_construct(tmp_path, build)
    (bucket,) = _all(doc, "oci_objectstorage_bucket")
    assert bucket["name"] == "models" and bucket["access_type"] == "NoPublicAccess"
    assert "oci_objectstorage_namespace" in doc["data"]
    (par,) = _all(doc, "oci_objectstorage_preauthrequest")
    assert par["access_type"] == "AnyObjectRead"
    # Unset: the provider's read leaves it "" in state, so "Deny" would replace the PAR (and
    # its URL) on every apply; OCI denies listing by default (issue 18, finding 4).
    assert "bucket_listing_action" not in par
    assert par["time_expires"] == "2099-01-01T00:00:00Z"
    assert par["bucket"] == "${oci_objectstorage_bucket.w_bucket.name}"
    (volume,) = _all(doc, "oci_core_volume")
    assert volume["source_details"] == {"type": "volumeBackup", "id": BACKUP}
    assert (volume["size_in_gbs"], volume["vpus_per_gb"]) == ("2048", "20")
    attachments = _all(doc, "oci_core_volume_attachment")
    assert len(attachments) == 3
    for a in attachments:
        assert a["attachment_type"] == "iscsi" and a["is_agent_auto_iscsi_login_enabled"] is True
        assert a["is_shareable"] is True and a["is_read_only"] is True
        assert a["volume_id"] == "${oci_core_volume.w_volume.id}"
        assert a["device"] == "/dev/oracleoci/oraclevdb"
    assert {a["instance_id"] for a in attachments} == {
        f"${{oci_core_instance.node_{i}.id}}" for i in range(3)
    }


def test_clones_per_node_on_a_vm_attach_paravirtualized(tmp_path: Path) -> None:
    spec = WeightCache(
        bucket="models", create=False, volume=WeightVolume(size_gb=200, backup_id=BACKUP)
    )

    def build(s: Construct) -> None:
        cache = WeightStore(s, "w", WeightStoreProps("wts", "c", "us-ashburn-1", spec))
        cache.attach(_instances(s, 2), "AD-1", bare_metal=False)

    doc = synth_construct(tmp_path, build)
    assert _all(doc, "oci_objectstorage_bucket") == []  # referenced, not created
    volumes = _all(doc, "oci_core_volume")
    assert len(volumes) == 2 and all(v["source_details"]["id"] == BACKUP for v in volumes)
    for a in _all(doc, "oci_core_volume_attachment"):
        assert a["attachment_type"] == "paravirtualized"
        assert "is_shareable" not in a and "is_read_only" not in a
        assert "is_agent_auto_iscsi_login_enabled" not in a


def test_the_policy_reads_objects_of_that_bucket_only(tmp_path: Path) -> None:
    props = InstanceAccessProps(
        name="wts", tenancy_id="t", compartment_id="c", api_key_secret_id=None,
        weights_bucket="models", instance_ids=("ocid1.instance.oc1..a",),
    )  # fmt: skip
    doc = synth_construct(tmp_path, lambda s: InstanceAccess(s, "access", props))
    (policy,) = _all(doc, "oci_identity_policy")
    assert policy["statements"] == [
        "Allow dynamic-group gpuform-wts to read objects in compartment id c "
        "where target.bucket.name = 'models'"
    ]


@pytest.fixture(scope="module")
def synthesized_weights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from infra.synth import synth

    stack = _stack(
        WeightCache(
            bucket="models",
            prefix="deepseek/r1-distill-70b",
            par_expires=FUTURE,
            volume=WeightVolume(size_gb=1024, backup_id=BACKUP),
        ),
        count=2,
    )
    out = tmp_path_factory.mktemp("synth")
    result = synth({stack.name: stack}, out)
    doc: dict[str, Any] = json.loads(result.stacks[stack.name].read_text())
    assert check_terraform_json(doc) == []
    return doc


def test_a_stack_with_weights_synthesizes_bucket_policy_and_attachments(
    synthesized_weights: dict[str, Any],
) -> None:
    doc = synthesized_weights
    nodes = _all(doc, "oci_core_instance")
    gpu = [n for n in nodes if "gpuform-node-index" in n.get("freeform_tags", {})]
    assert len(gpu) == 2
    # The weights bucket, beside the stack's own boot bucket (docs/bundles.md).
    buckets = sorted(b["name"] for b in _all(doc, "oci_objectstorage_bucket"))
    assert buckets == ["models", "wts-boot"]
    (policy,) = _all(doc, "oci_identity_policy")
    reads = [s for s in policy["statements"] if "read objects" in s]
    assert reads == [
        "Allow dynamic-group gpuform-wts to read objects in compartment id "
        "${var.compartment_ocid} where target.bucket.name = 'models'"
    ]
    attachments = _all(doc, "oci_core_volume_attachment")
    assert len(attachments) == 2 and len(_all(doc, "oci_core_volume")) == 2
    for n in gpu:
        md = n["metadata"]
        assert md["gpuform_weights_namespace"].startswith("${data.oci_objectstorage_namespace.")
        assert md["gpuform_weights_url"].startswith("https://objectstorage.us-ashburn-1.")
        plugins = {p["name"]: p["desired_state"] for p in n["agent_config"]["plugins_config"]}
        assert plugins["Block Volume Management"] == "ENABLED"


def test_the_dynamic_group_matches_the_stack_instances(
    synthesized_weights: dict[str, Any],
) -> None:
    (group,) = _all(synthesized_weights, "oci_identity_dynamic_group")
    rule = group["matching_rule"]
    if "instance.id" not in rule:
        pytest.xfail(f"the rule still matches the compartment (issue 8 moves it to ids): {rule}")
    ids = re.findall(r"\$\{oci_core_instance\.(\w+)\.id\}", rule)
    assert sorted(ids) == ["cluster_nodes_node_0", "cluster_nodes_node_1"], rule


# --- the node: the weights step, before the engine, and what the engine serves -----------------


def _files(stack: StackSpec, i: int = 0) -> dict[str, str]:
    return plan_nodes(stack, resolve(stack))[i].files


def test_without_a_bucket_every_node_pulls_from_the_hub_before_the_engine() -> None:
    files = _files(_stack(None))
    script = files[f"{LIB}/weights.sh"]
    assert "--hub deepseek-ai/DeepSeek-R1-Distill-Llama-70B --revision main" in script
    engine = files["/etc/systemd/system/gpuform-engine.service"]
    requires = next(ln for ln in engine.splitlines() if ln.startswith("Requires="))
    assert "gpuform-weights.service" in requires.split("=")[1].split()
    run = files[f"{LIB}/engine-run.sh"]
    assert '-v "$(readlink -f /var/lib/gpuform/weights):/gpuform/weights:ro"' in run
    assert "vllm serve /gpuform/weights --served-model-name " + LLAMA_70B.id in run
    assert "--revision" not in run.split("exec docker run", 1)[1]


def test_a_bucket_is_read_by_par_or_instance_principal() -> None:
    files = _files(_stack(WeightCache(bucket="models"), kind="sglang"))
    script = files[f"{LIB}/weights.sh"]
    assert "--prefix deepseek-ai/DeepSeek-R1-Distill-Llama-70B" in script
    # No PAR: the SDK signs, with the one OCI client the oci-client step installs.
    assert 'args+=(--oci "us-ashburn-1/${GPUFORM_WEIGHTS_NAMESPACE}/models")' in script
    assert "--base-url" not in script and "pip install" not in script
    unit = files["/etc/systemd/system/gpuform-weights.service"]
    assert "EnvironmentFile=/etc/gpuform/oci-client.env" in unit
    par = _files(_stack(WeightCache(bucket="models", par_expires=FUTURE), kind="sglang"))
    script = par[f"{LIB}/weights.sh"]
    assert 'args+=(--base-url "${GPUFORM_WEIGHTS_URL}")' in script and "--oci" not in script
    assert "oci-client.env" not in par["/etc/systemd/system/gpuform-weights.service"]
    run = files[f"{LIB}/engine-run.sh"]
    assert "--model-path /gpuform/weights --served-model-name " + LLAMA_70B.id in run


def test_a_shared_volume_is_mounted_read_only_and_only_verified() -> None:
    vol = WeightVolume(size_gb=500, mode="shared-read-only", backup_id=BACKUP)
    files = _files(_stack(WeightCache(bucket="models", volume=vol)))
    mount = files[f"{LIB}/weights-volume.sh"]
    assert "opts=ro,norecovery" in mount and "mkfs" not in mount
    assert "args+=(--verify-only)" in files[f"{LIB}/weights.sh"]
    unit = files["/etc/systemd/system/gpuform-weights.service"]
    assert "Requires=gpuform-node-env.service gpuform-weights-volume.service" in unit


@pytest.mark.parametrize(
    "weights",
    [
        None,
        WeightCache(bucket="models"),
        WeightCache(bucket="m", volume=WeightVolume(size_gb=500)),
        WeightCache(
            bucket="m", volume=WeightVolume(size_gb=500, mode="shared-read-only", backup_id=BACKUP)
        ),
    ],
)
def test_weight_scripts_pass_shellcheck(weights: WeightCache | None) -> None:
    for shape in ("BM.GPU.H100.8", "BM.GPU.L40S.4"):
        files = _files(_stack(weights, shape=shape))
        scripts = {p: c for p, c in files.items() if "/weights" in p and p.endswith(".sh")}
        assert scripts
        assert_silent(shellcheck_files(scripts), f"shellcheck weights ({shape})")


def test_the_shipped_fetcher_is_fetch_py_in_python_3_6_syntax() -> None:
    import ast

    text = shipped_fetcher()
    ast.parse(text, feature_version=(3, 6))
    files = _files(_stack(None))
    assert files[f"{LIB}/weights-fetch.py"].rstrip("\n") == text.rstrip("\n")
    assert "def verify_file" in text and '"""' in text  # the module docstring stays


def test_an_existing_bucket_is_read_at_plan_time_and_must_be_in_the_stacks_compartment(
    tmp_path: Path,
) -> None:
    # A bucket the stack only names: a typo or a bucket in another compartment (where the
    # nodes' read policy does not reach) stops `terraform plan`, not the nodes an hour later.
    spec = WeightCache(bucket="models", create=False)
    doc = synth_construct(
        tmp_path, lambda s: WeightStore(s, "w", WeightStoreProps("wts", "c", "us-ashburn-1", spec))
    )
    (lookup,) = doc["data"]["oci_objectstorage_bucket"].values()
    assert lookup["name"] == "models"
    assert lookup["namespace"].startswith("${data.oci_objectstorage_namespace.")
    (check,) = lookup["lifecycle"]["postcondition"]
    assert check["condition"] == '${self.compartment_id == "c"}'
    assert "weights.create=True" in check["error_message"]


def test_a_stack_on_an_existing_bucket_checks_it_against_the_compartment_variable(
    tmp_path: Path,
) -> None:
    from infra.synth import synth

    stack = _stack(WeightCache(bucket="models", create=False), count=1)
    result = synth({stack.name: stack}, tmp_path / "out")
    doc: dict[str, Any] = json.loads(result.stacks[stack.name].read_text())
    assert check_terraform_json(doc) == []
    # Only the stack's own boot bucket is created (docs/bundles.md), not the existing one.
    assert [b["name"] for b in _all(doc, "oci_objectstorage_bucket")] == ["wts-boot"]
    (lookup,) = doc["data"]["oci_objectstorage_bucket"].values()
    (check,) = lookup["lifecycle"]["postcondition"]
    assert check["condition"] == "${self.compartment_id == var.compartment_ocid}"
