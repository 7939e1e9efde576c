"""Bundles under Terraform itself (docs/bundles.md), against the stand-in oracle/oci provider
(tests/standin_oci): what `terraform apply` leaves, and what a later plan does to it.

One node stack is deployed. Its state must hold the bundle object whose sha256 the node's
user_data pins, behind the PAR whose URL its metadata carries. Renewing that PAR must update
the instance in place; changing an engine flag (a file of the bundle) must replace the object
and its PAR new-before-old, and the instance through its user_data, as a changed file always
did; after either apply, a re-plan is clean. The stack's clean first re-plan and destroy are in
tests/test_tf_e2e.py, for every example.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from infra.specs import StackSpec
from infra.stacks import load_examples
from infra.synth import synth
from tests.standin_oci import e2e
from tests.standin_oci.mirror import install

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("terraform") is None, reason="needs terraform"),
]

STACK = "r1-distill-llama-8b"
OBJECT = "oci_objectstorage_object.cluster_nodes_bundles_object_0"
PAR = "oci_objectstorage_preauthrequest.cluster_nodes_bundles_par_0"
NODE = "oci_core_instance.cluster_nodes_node_0"
REGION_HOST = "https://objectstorage.us-ashburn-1.oraclecloud.com"


def _spec(extra_args: tuple[str, ...] = ()) -> StackSpec:
    spec = load_examples()[STACK]
    assert isinstance(spec, StackSpec)
    return spec.model_copy(
        update={"engine": spec.engine.model_copy(update={"extra_args": extra_args})}
    )


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[e2e.StackRun]:
    root = tmp_path_factory.mktemp("bundles-e2e")
    out = root / "out"
    synth({STACK: _spec()}, out)
    run = e2e.StackRun(STACK, out, install(root / "standin"), root / "state.json")
    run.deploy()
    yield run
    run.destroy()


def _resources(run: e2e.StackRun) -> dict[str, dict[str, Any]]:
    shown = json.loads(run.terraform("show", "show", "-json").stdout)
    return {r["address"]: r["values"] for r in shown["values"]["root_module"]["resources"]}


def _pinned(user_data: str) -> str:
    text = gzip.decompress(base64.b64decode(user_data)).decode()
    files = {f["path"]: f["content"] for f in yaml.safe_load(text)["write_files"]}
    (sha,) = files["/usr/local/lib/gpuform/bundles"].split()
    return str(sha)


def _synthesized_bundle(run: e2e.StackRun) -> str:
    doc = json.loads((run.folder / "cdk.tf.json").read_text())
    content: str = doc["resource"]["oci_objectstorage_object"]["cluster_nodes_bundles_object_0"][
        "content"
    ]
    return content


def test_the_node_pins_the_uploaded_bundle_and_reads_it_through_its_par(
    deployed: e2e.StackRun,
) -> None:
    state = _resources(deployed)
    node, obj, par = state[NODE], state[OBJECT], state[PAR]
    sha = _pinned(node["metadata"]["user_data"])
    assert obj["object"] == f"bundle-{sha}.tgz.b64"
    # The provider keeps the content's MD5 in state, never the bundle itself.
    content = _synthesized_bundle(deployed)
    assert obj["content"] == hashlib.md5(content.encode()).hexdigest()
    assert hashlib.sha256(base64.b64decode(content)).hexdigest() == sha
    assert par["access_type"] == "ObjectRead" and par["object_name"] == obj["object"]
    assert node["metadata"]["gpuform_bundle_urls"] == REGION_HOST + par["access_uri"]
    assert par["access_uri"].endswith(f"/o/{obj['object']}")


def test_a_renewed_par_updates_the_instance_in_place(deployed: e2e.StackRun) -> None:
    plan = deployed.terraform(
        "plan -replace PAR", "plan", "-input=false", f"-replace={PAR}", "-out=renew"
    )
    assert f"{PAR} will be replaced, as requested" in plan.stdout
    assert f"{NODE} will be updated in-place" in plan.stdout
    assert f"{NODE} must be replaced" not in plan.stdout
    assert f"{OBJECT} " not in plan.stdout
    deployed.terraform("apply renewal", "apply", "-input=false", "renew")
    state = _resources(deployed)
    assert state[NODE]["metadata"]["gpuform_bundle_urls"] == REGION_HOST + state[PAR]["access_uri"]
    assert deployed.replan().returncode == 0


def test_a_changed_file_replaces_the_bundle_new_before_old(deployed: e2e.StackRun) -> None:
    before = _resources(deployed)
    synth({STACK: _spec(("--enforce-eager",))}, deployed.out_dir)
    plan = deployed.terraform("plan changed bundle", "plan", "-input=false", "-out=changed")
    text = plan.stdout
    for address in (OBJECT, PAR):
        assert f"{address} must be replaced" in text, text
        kind, name = address.split(".")
        # "+/-": create replacement and then destroy (create_before_destroy).
        assert f'+/- resource "{kind}" "{name}"' in text, text
    assert f"{NODE} must be replaced" in text  # its user_data pins the new hash
    # Nothing else but what names the new instance: the bucket and the network stay.
    changed = {
        line.split("# ", 1)[1].split(" ", 1)[0]
        for line in text.splitlines()
        if line.strip().startswith("# ") and (" must be " in line or " will be " in line)
    }
    assert changed == {
        OBJECT, PAR, NODE,
        "oci_identity_dynamic_group.cluster_access_nodes",  # names the node by OCID
        "oci_network_load_balancer_backend.cluster_endpoint_backend_0",  # targets it
    }, text  # fmt: skip
    deployed.terraform("apply changed bundle", "apply", "-input=false", "changed")
    after = _resources(deployed)
    sha = _pinned(after[NODE]["metadata"]["user_data"])
    assert sha != _pinned(before[NODE]["metadata"]["user_data"])
    assert after[OBJECT]["object"] == f"bundle-{sha}.tgz.b64"
    objects = [v for a, v in after.items() if a.startswith("oci_objectstorage_object.")]
    assert [o["object"] for o in objects] == [f"bundle-{sha}.tgz.b64"]  # the old one is gone
    assert after[NODE]["metadata"]["gpuform_bundle_urls"] == REGION_HOST + after[PAR]["access_uri"]
    assert deployed.replan().returncode == 0
