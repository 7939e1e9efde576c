"""Terraform itself runs the guard that keeps a cluster network's roster over its first members.

The OCI provider cannot be installed here, so the test applies a provider-less config built from
the synthesized stack: the `terraform_data` that keeps the first members and the roster
object's precondition are copied verbatim; only the OCI pieces they reference are swapped for
stand-ins (a variable for the pool's instances, a `terraform_data` for the cluster network).
Then it does what OCI and a user would: boot, replace an instance, replace the whole pool.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .test_cluster_network_tf import Doc, rl  # noqa: F401  (the synthesized RL pool)

pytestmark = pytest.mark.slow


def _stand_in(doc: Doc) -> dict[str, Any]:
    (members,) = doc["data"]["oci_core_cluster_network_instances"]
    (network,) = doc["resource"]["oci_core_cluster_network"]
    (first_name, first), *_ = doc["resource"]["terraform_data"].items()
    # The boot bucket holds the bundles too; the guard sits on the roster object alone.
    (roster,) = (
        o for name, o in doc["resource"]["oci_objectstorage_object"].items() if "roster" in name
    )

    def swap(value: Any) -> Any:
        text = json.dumps(value)
        text = text.replace(
            f"data.oci_core_cluster_network_instances.{members}.instances", "var.members"
        )
        text = text.replace(f"oci_core_cluster_network.{network}", "terraform_data.network")
        return json.loads(text)

    return {
        "variable": {"members": {"type": "list(object({ id = string }))"}},
        "resource": {
            "terraform_data": {
                "network": {"input": "pool"},
                first_name: swap(first),
                "roster": {"input": "roster", "lifecycle": swap(roster["lifecycle"])},
            }
        },
    }


def _terraform(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not on PATH")
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
    return subprocess.run(
        [terraform, f"-chdir={folder}", *args, "-no-color"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _apply(folder: Path, members: list[str], *extra: str) -> subprocess.CompletedProcess[str]:
    value = json.dumps([{"id": m} for m in members])
    return _terraform(
        folder, "apply", "-auto-approve", "-input=false", f"-var=members={value}", *extra
    )


def test_a_replaced_instance_stops_the_roster_until_the_pool_is_replaced(
    rl: tuple[Any, Doc],  # noqa: F811
    tmp_path: Path,
) -> None:
    _, doc = rl
    (tmp_path / "main.tf.json").write_text(json.dumps(_stand_in(doc)))
    assert _terraform(tmp_path, "init", "-input=false").returncode == 0
    first = ["ocid1.instance.oc1.iad.b", "ocid1.instance.oc1.iad.a"]

    booted = _apply(tmp_path, first)
    assert booted.returncode == 0, booted.stdout + booted.stderr
    # The same members listed in another order: nothing moves.
    again = _apply(tmp_path, list(reversed(first)))
    assert again.returncode == 0, again.stdout + again.stderr

    # OCI replaced instance b with c: a new roster would move indices under running nodes.
    replaced = ["ocid1.instance.oc1.iad.a", "ocid1.instance.oc1.iad.c"]
    refused = _apply(tmp_path, replaced)
    assert refused.returncode != 0
    message = " ".join((refused.stdout + refused.stderr).split())
    assert "Resource precondition failed" in message
    assert "took their indices from at first boot" in message
    # The stand-in's address, swapped in for the cluster network's, which the stack names:
    assert "terraform apply -replace=terraform_data.network" in message
    (network,) = doc["resource"]["oci_core_cluster_network"]
    # The boot bucket holds the bundles too; the guard sits on the roster object alone.
    (roster,) = (
        o for name, o in doc["resource"]["oci_objectstorage_object"].items() if "roster" in name
    )
    (guard,) = roster["lifecycle"]["precondition"]
    assert guard["error_message"].endswith(f"-replace=oci_core_cluster_network.{network}")

    # What the message says to do (here, on the stand-in): a new pool, a new first roster.
    renewed = _apply(tmp_path, replaced, "-replace=terraform_data.network")
    assert renewed.returncode == 0, renewed.stdout + renewed.stderr
    assert _apply(tmp_path, replaced).returncode == 0
