"""checkov, a real Terraform security scanner, on every example stack's synthesized JSON.

Any failed check fails the test unless it is one of the exceptions below, each scoped to the
resources it may cover and carrying its reason. A new rule that opens something to the internet,
or an instance that loses a hardening flag, shows up here.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from infra.catalog.shapes import get_shape
from infra.specs import StackSpec
from infra.synth import synth

from .conftest import REPO

CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"

Finding = dict[str, Any]
Doc = dict[str, Any]


def _nsg_rule(doc: Doc, finding: Finding) -> Doc:
    name = finding["resource"].rsplit(".", 1)[1]
    rule: Doc = doc["resource"]["oci_core_network_security_group_security_rule"][name]
    return rule


def _egress_or_inside_vcn(doc: Doc, finding: Finding) -> bool:
    rule = _nsg_rule(doc, finding)
    if rule["direction"] == "EGRESS":
        return True
    return (
        rule["source"] != "0.0.0.0/0"
        and rule["source"]
        in doc["resource"]["oci_core_vcn"][next(iter(doc["resource"]["oci_core_vcn"]))][
            "cidr_blocks"
        ]
    )


def _encrypted_in_transit_or_bare_metal(doc: Doc, finding: Finding) -> bool:
    name = finding["resource"].rsplit(".", 1)[1]
    instance = doc["resource"]["oci_core_instance"][name]
    if instance.get("is_pv_encryption_in_transit_enabled") is True:
        return True  # the instance's own argument, which checkov does not read
    return bool(get_shape(instance["shape"]).bare_metal)


def _boot_bucket(doc: Doc, finding: Finding) -> bool:
    name = finding["resource"].rsplit(".", 1)[1]
    bucket = doc["resource"].get("oci_objectstorage_bucket", {}).get(name)
    return bucket is not None and bool(bucket["name"].endswith("-boot"))


#: Why the stack's boot bucket (docs/bundles.md) does without what checkov's bucket checks
#: ask: it holds only objects Terraform writes from the synthesized JSON and its state.
_BOOT = (
    "the boot bucket holds only what Terraform writes from the stack: the nodes' bundles "
    "(each named by its sha256, which the node checks) and a cluster network's roster"
)

#: check id -> (which findings it may excuse, why).
EXCEPTIONS: dict[str, tuple[Callable[[Doc, Finding], bool], str]] = {
    "CKV2_OCI_2": (
        _egress_or_inside_vcn,
        "the RDP check passes only ingress rules that are not protocol 'all', so it flags "
        "every egress rule and the VCN-internal rule Ray and NCCL need; neither admits the "
        "internet",
    ),
    "CKV_OCI_21": (
        lambda doc, finding: True,
        "asks for stateless ingress rules, which would need hand-written return rules for "
        "every ephemeral port; stateful NSG rules are the norm",
    ),
    "CKV_OCI_15": (
        lambda doc, finding: (
            finding["resource"].rsplit(".", 1)[1]
            in doc["resource"].get("oci_file_storage_file_system", {})
        ),
        "OCI encrypts every File Storage file system at rest with Oracle-managed keys "
        "(oracle/terraform-provider-oci website/docs/r/file_storage_file_system.html.markdown, "
        "kms_key_id: optional); a customer-managed key needs a Vault key and a policy letting "
        "the File Storage service use it, which the stack does not own",
    ),
    "CKV_OCI_4": (
        _encrypted_in_transit_or_bare_metal,
        "checkov reads only launch_options.is_pv_encryption_in_transit_enabled, deprecated at "
        "create time; VMs set the instance's own is_pv_encryption_in_transit_enabled "
        "(oracle/terraform-provider-oci website/docs/r/core_instance.html.markdown). Bare-metal "
        "boot volumes attach over iSCSI, where the option does not apply",
    ),
    "CKV_OCI_7": (
        _boot_bucket,
        f"{_BOOT}; nothing subscribes to its object events",
    ),
    "CKV_OCI_8": (
        _boot_bucket,
        f"{_BOOT}, and Terraform rewrites them from state; old versions would only keep "
        "stale rosters and bundles and stop `terraform destroy` from deleting the bucket",
    ),
    "CKV_OCI_9": (
        _boot_bucket,
        f"{_BOOT}: scripts and units (no secret) and instance OCIDs and private IPs, "
        "encrypted at rest with Oracle-managed keys; a customer-managed key needs a Vault key "
        "the stack does not own",
    ),
}


def _checkov(folder: Path) -> dict[str, Any]:
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing; `make tools` installs checkov")
    proc = subprocess.run(
        [str(CHECKOV), "-d", str(folder), "--framework", "terraform_json", "--skip-download",
         "--compact", "-o", "json"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    # checkov exits 1 when a check fails; anything else is the scanner itself failing.
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    report: dict[str, Any] = json.loads(proc.stdout)
    return report


def _unexplained(report: dict[str, Any]) -> list[str]:
    """Failed checks that no exception excuses, one line each."""
    lines = []
    for finding in report["results"]["failed_checks"]:
        path = Path(finding["file_path"])
        doc = json.loads(Path(finding["file_abs_path"]).read_text())
        excuse = EXCEPTIONS.get(finding["check_id"])
        if excuse is None or not excuse[0](doc, finding):
            lines.append(
                f"{path.parent.name}: {finding['check_id']} {finding['check_name']}: "
                f"{finding['resource']}"
            )
    return lines


@pytest.fixture(scope="module")
def scan(examples: dict[str, StackSpec], tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = tmp_path_factory.mktemp("scan") / "cdktf.out"
    synth(examples, out)
    return _checkov(out / "stacks")


def test_checkov_read_every_stack(scan: Any, examples: dict[str, StackSpec]) -> None:
    assert scan["summary"]["parsing_errors"] == 0
    files = {Path(f["file_path"]).parent.name for f in scan["results"]["passed_checks"]}
    assert files == set(examples)
    assert scan["summary"]["passed"] > 50


def test_no_finding_outside_the_documented_exceptions(scan: Any) -> None:
    unexplained = _unexplained(scan)
    assert not unexplained, "\n".join(unexplained)


def test_ssh_from_anywhere_is_never_excused(tmp_path: Path) -> None:
    vcn = "${oci_core_vcn.v.id}"
    doc = {
        "resource": {
            "oci_core_vcn": {"v": {"compartment_id": "x", "cidr_blocks": ["10.0.0.0/16"]}},
            "oci_core_network_security_group_security_rule": {
                "open_ssh": {
                    "network_security_group_id": "x",
                    "direction": "INGRESS",
                    "protocol": "6",
                    "source": "0.0.0.0/0",
                    "source_type": "CIDR_BLOCK",
                    "tcp_options": {"destination_port_range": {"min": 22, "max": 22}},
                }
            },
            "oci_core_security_list": {
                "open": {
                    "compartment_id": "x",
                    "vcn_id": vcn,
                    "ingress_security_rules": [
                        {
                            "protocol": "6",
                            "source": "0.0.0.0/0",
                            "tcp_options": {"min": 22, "max": 22},
                        }
                    ],
                }
            },
        }
    }
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "main.tf.json").write_text(json.dumps(doc))
    unexplained = _unexplained(_checkov(tmp_path))
    assert any("CKV_OCI_22" in line and "open_ssh" in line for line in unexplained), unexplained
    assert any("CKV_OCI_19" in line for line in unexplained), unexplained
