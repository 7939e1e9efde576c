"""Model.hub_token: a private or gated hub repo's token, from OCI Vault to the weights pull.

The spec refuses it where no hub pull happens; Terraform adds the secret's variable, the
metadata key and a read of exactly that secret (compute cluster and cluster network alike);
the node gets a hub-token step the weights step requires, whose script is run here for real
against a stand-in OCI CLI. The pull itself (the token to the hub, never to its CDN) is tested
in tests/test_weights_pull.py.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from infra import node_metadata
from infra.constructs.access import InstanceAccess, InstanceAccessProps
from infra.node_plan import NodePlan, plan_nodes
from infra.render.context import NodeContext
from infra.render.jinja import environment
from infra.render.stage0 import MAX_STAGE0_B64
from infra.render.steps import step
from infra.sizing.settings import resolve
from infra.specs import (
    AnyStack,
    Engine,
    Model,
    NodeGroup,
    StackSpec,
    Training,
    TrainingStackSpec,
    WeightCache,
    one_line,
)
from infra.synth import synth
from infra.tf.schema import check_terraform_json

from . import nodecov
from .factories import deployment
from .narrow import synth_construct, uploaded_files
from .test_cluster_network_tf import SERVING, pooled
from .test_render_validators import assert_silent, shellcheck_files, verify_units

LIB = "/usr/local/lib/gpuform"
UNITS = "/etc/systemd/system"
KEY = node_metadata.HUB_TOKEN_SECRET_ID
VAR = "${var.hub_token_secret_ocid}"
SECRET = "ocid1.vaultsecret.oc1.iad.hubtoken"
DEP = deployment("hubt")
LLAMA_70B = "deepseek-ai/DeepSeek-R1-Distill-Llama-70B"


def _stack(hub_token: bool = True, **kw: Any) -> StackSpec:
    return StackSpec(
        deployment=DEP,
        nodes=kw.pop("nodes", NodeGroup(shape="BM.GPU.H100.8")),
        model=Model(id=kw.pop("model_id", LLAMA_70B), hub_token=hub_token),
        engine=Engine(kind=kw.pop("kind", "vllm")),
        **kw,
    )


def _plan(stack: AnyStack) -> tuple[NodePlan, ...]:
    return plan_nodes(stack, resolve(stack))


# --- specs: refused in one line where no hub pull would use it -------------------------------


@pytest.mark.parametrize(
    ("build", "words"),
    [
        (
            lambda: _stack(weights=WeightCache(bucket="models")),
            "StackSpec: model.hub_token = True but weights.bucket 'models' is set",
        ),
        (
            lambda: _stack(model_id="deepseek-r1:14b", kind="ollama"),
            "StackSpec: model.hub_token = True but Ollama pulls 'deepseek-r1:14b'",
        ),
        (
            lambda: TrainingStackSpec(
                deployment=DEP,
                nodes=NodeGroup(shape="BM.GPU.H100.8"),
                model=Model(id="deepseek-ai/DeepSeek-V2-Lite", hub_token=True),
                training=Training(launcher="torchrun", image="nvcr.io/nvidia/pytorch", tag="x"),
            ),
            "TrainingStackSpec: model.hub_token = True but a training cluster's nodes pull",
        ),
    ],
)
def test_a_token_nothing_would_use_is_refused_in_one_line(build: Any, words: str) -> None:
    with pytest.raises(ValidationError) as err:
        build()
    line = one_line(err.value)
    assert "\n" not in line and line.startswith(words), line
    assert "drop hub_token" in line


def test_a_hub_stack_takes_a_token() -> None:
    assert _stack().uses_hub_token
    assert not _stack(hub_token=False).uses_hub_token


# --- Terraform -------------------------------------------------------------------------------


def _all(doc: dict[str, Any], tf_type: str) -> list[dict[str, Any]]:
    return list(doc.get("resource", {}).get(tf_type, {}).values())


def _synth(stack: AnyStack, out: Path) -> dict[str, Any]:
    result = synth({stack.name: stack}, out)
    doc: dict[str, Any] = json.loads(result.stacks[stack.name].read_text())
    assert check_terraform_json(doc) == []
    return doc


def _statement(compartment: str, secret: str) -> str:
    return (
        f"Allow dynamic-group gpuform-hubt to read secret-bundles in compartment id {compartment} "
        f"where target.secret.id = '{secret}'"
    )


def test_the_policy_reads_that_secret_and_the_api_keys_and_nothing_else(tmp_path: Path) -> None:
    props = InstanceAccessProps(
        name="hubt", tenancy_id="t", compartment_id="c", api_key_secret_id="ocid1.apikey",
        hub_token_secret_id=SECRET, instance_ids=("ocid1.instance.oc1..a",),
    )  # fmt: skip
    doc = synth_construct(tmp_path, lambda s: InstanceAccess(s, "access", props))
    (policy,) = _all(doc, "oci_identity_policy")
    assert policy["statements"] == [_statement("c", "ocid1.apikey"), _statement("c", SECRET)]


def test_a_compute_cluster_gets_the_variable_metadata_key_and_policy(tmp_path: Path) -> None:
    stack = _stack(nodes=NodeGroup(shape="BM.GPU.H100.8", count=2, placement="compute_cluster"))
    doc = _synth(stack, tmp_path / "out")
    variable = doc["variable"]["hub_token_secret_ocid"]
    assert variable["type"] == "string" and "hub token" in variable["description"]
    nodes = [
        n for n in _all(doc, "oci_core_instance") if "gpuform-node-index" in n["freeform_tags"]
    ]
    assert len(nodes) == 2 and _all(doc, "oci_core_compute_cluster")
    for n in nodes:
        assert n["metadata"][KEY] == VAR
        assert f"{UNITS}/gpuform-hub-token.service" in uploaded_files(doc, n["metadata"])
    (policy,) = _all(doc, "oci_identity_policy")
    reads = [s for s in policy["statements"] if VAR in s]
    assert reads == [_statement("${var.compartment_ocid}", VAR)]


def test_a_cluster_networks_shared_metadata_carries_the_key(tmp_path: Path) -> None:
    base = pooled(SERVING)
    stack = StackSpec.model_validate(
        {**base.model_dump(), "model": {**base.model.model_dump(), "hub_token": True}}
    )
    doc = _synth(stack, tmp_path / "out")
    assert "hub_token_secret_ocid" in doc["variable"]
    (config,) = _all(doc, "oci_core_instance_configuration")
    metadata = config["instance_details"]["launch_details"]["metadata"]
    assert metadata[KEY] == VAR
    assert f"{UNITS}/gpuform-hub-token.service" in uploaded_files(doc, metadata)
    (policy,) = _all(doc, "oci_identity_policy")
    assert any(
        "target.secret.id = '${var.hub_token_secret_ocid}'" in s for s in policy["statements"]
    )


def test_a_stack_without_a_token_has_none_of_it(tmp_path: Path) -> None:
    doc = _synth(pooled(SERVING), tmp_path / "out")
    assert "hub_token_secret_ocid" not in doc["variable"]
    (config,) = _all(doc, "oci_core_instance_configuration")
    assert KEY not in config["instance_details"]["launch_details"]["metadata"]
    (policy,) = _all(doc, "oci_identity_policy")
    assert not any("hub_token" in s for s in policy["statements"])


# --- the node --------------------------------------------------------------------------------


def test_the_step_exists_only_when_asked_and_the_weights_step_requires_it() -> None:
    without = _plan(_stack(hub_token=False))[0]
    assert not any("hub-token" in p for p in without.files)
    assert "GPUFORM_HUB_TOKEN_SECRET_ID" not in without.files[f"{LIB}/node-env.sh"]
    assert "--hub-token-file" not in without.files[f"{LIB}/weights.sh"]
    files = _plan(_stack())[0].files
    assert f"{LIB}/hub-token.sh" in files
    assert 'echo "GPUFORM_HUB_TOKEN_SECRET_ID=$v"' in files[f"{LIB}/node-env.sh"]
    unit = files[f"{UNITS}/gpuform-weights.service"]
    (requires,) = [ln for ln in unit.splitlines() if ln.startswith("Requires=")]
    assert "gpuform-hub-token.service" in requires.split("=", 1)[1].split()
    weights = files[f"{LIB}/weights.sh"]
    assert "args+=(--hub-token-file /etc/gpuform/hub-token.env)" in weights
    assert "HF_TOKEN" not in weights  # the pull reads the file; no shell variable holds it


def test_the_token_step_shares_the_api_keys_oci_cli_part() -> None:
    files = _plan(_stack())[0].files
    key, token = files[f"{LIB}/api-key.sh"], files[f"{LIB}/hub-token.sh"]
    shared = key[key.index("oci=${GPUFORM_OCI:-}") : key.index("\ndone\n") + 6]
    assert len(shared) > 400 and shared in token
    assert "--auth instance_principal" in shared


@pytest.mark.parametrize(
    "nodes",
    [
        NodeGroup(shape="BM.GPU.H100.8"),
        NodeGroup(
            shape="VM.GPU.A10.1",
            image={"operating_system": "Canonical Ubuntu", "custom": True},
        ),
    ],
    ids=["dnf", "apt"],
)
def test_scripts_and_units_pass_shellcheck_and_systemd_verify(nodes: NodeGroup) -> None:
    model = (
        LLAMA_70B if nodes.shape == "BM.GPU.H100.8" else "deepseek-ai/DeepSeek-R1-Distill-Llama-8B"
    )
    node = _plan(_stack(nodes=nodes, model_id=model))[0]
    scripts = {p: c for p, c in node.files.items() if p.endswith(".sh")}
    assert f"{LIB}/hub-token.sh" in scripts
    assert_silent(shellcheck_files(scripts), "shellcheck")
    assert_silent(verify_units(node.files), "systemd-analyze verify")
    assert len(node.user_data_b64) <= MAX_STAGE0_B64


# --- hub-token.sh, run for real with a stand-in OCI CLI --------------------------------------

TOKEN = "hf_AbCdEf0123456789ghIJklMNopQRstUVwx"


def _run(tmp_path: Path, secret: str, content: bytes | None) -> subprocess.CompletedProcess[str]:
    """hub-token.sh with /etc/gpuform and /var/log/gpuform under tmp_path, and an `oci` on PATH
    that answers the secret's base64 content (None: fails, as before the policy applies)."""
    ctx: NodeContext = _plan(_stack())[0].context
    etc, logs = tmp_path / "etc", tmp_path / "log"
    etc.mkdir()
    paths = dataclasses.replace(ctx.paths, etc=str(etc), logs=str(logs))
    assert ctx.hub_token is not None
    ctx = dataclasses.replace(
        ctx,
        paths=paths,
        limits=dataclasses.replace(ctx.limits, secret_retry_s=0),
        hub_token=dataclasses.replace(ctx.hub_token, env_file=str(etc / "hub-token.env")),
    )
    script = tmp_path / "hub-token.sh"
    text = (
        environment()
        .get_template("scripts/hub-token.sh.j2")
        .render(ctx.parts(step("hub-token").reads))
    )
    script.write_text(text)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    answer = f"echo {base64.b64encode(content).decode()}" if content is not None else "exit 1"
    oci = bin_dir / "oci"
    oci.write_text(f'#!/bin/bash\nprintf "%s\\n" "$*" >>{tmp_path}/oci.argv\n{answer}\n')
    oci.chmod(0o755)
    # The OCI CLI the oci-client step names in /etc/gpuform/oci-client.env (the unit's
    # EnvironmentFile) is the stand-in.
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "GPUFORM_HUB_TOKEN_SECRET_ID": secret,
           "GPUFORM_OCI": str(oci)}  # fmt: skip
    return subprocess.run(
        ["/bin/bash", str(script)], capture_output=True, text=True, timeout=60,
        env=nodecov.script_env(env),
    )  # fmt: skip


def test_the_token_lands_in_a_0600_env_file_and_nowhere_else(tmp_path: Path) -> None:
    r = _run(tmp_path, SECRET, TOKEN.encode() + b"\n")
    assert r.returncode == 0, r.stderr
    env_file = tmp_path / "etc" / "hub-token.env"
    assert env_file.read_text() == f"HF_TOKEN={TOKEN}\n"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    argv = (tmp_path / "oci.argv").read_text()
    assert f"--secret-id {SECRET} --auth instance_principal" in argv
    for text in (r.stdout, r.stderr, argv, *(p.read_text() for p in (tmp_path / "log").glob("*"))):
        assert TOKEN not in text


@pytest.mark.parametrize(
    ("secret", "content", "words"),
    [
        ("", TOKEN.encode(), "metadata key gpuform_hub_token_secret_id is empty"),
        (SECRET, None, f"cannot read secret {SECRET} by instance principal after 0s"),
        (SECRET, f"HF_TOKEN={TOKEN}".encode(), "is not one hub token"),
        (SECRET, f"{TOKEN}\n{TOKEN}".encode(), "is not one hub token"),
    ],
    ids=["no-secret-id", "policy-not-there", "env-line-stored", "two-lines"],
)
def test_a_failure_is_one_line_that_never_shows_the_token(
    tmp_path: Path, secret: str, content: bytes | None, words: str
) -> None:
    r = _run(tmp_path, secret, content)
    assert r.returncode == 1
    (line,) = r.stderr.splitlines()
    assert line.startswith("gpuform: ") and words in line, line
    assert TOKEN not in r.stdout + r.stderr
    assert not (tmp_path / "etc" / "hub-token.env").exists()
