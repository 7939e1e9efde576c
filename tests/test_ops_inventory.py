"""Inventory from Terraform outputs, and node selectors."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from infra.errors import UserError
from infra.ops.inventory import Inventory
from infra.ops.select import one, select
from tests.ops import sample


def test_outputs_give_nodes_bastion_user_and_endpoint() -> None:
    inv = sample.inventory()
    assert [n.name for n in inv.nodes] == [f"r1-h100-node-{i}" for i in range(4)]
    assert inv.nodes[3].head == 2 and inv.nodes[3].role == "worker" and inv.nodes[3].replica == 1
    assert inv.bastion_public_ip == "203.0.113.7" and inv.bastion_user == "opc"
    assert inv.ssh_user == "ubuntu" and inv.endpoint_url == "http://203.0.113.8:8000/v1"
    assert [n.index for n in inv.ray_members(inv.nodes[2])] == [2, 3]


def test_plain_values_work_as_well_as_terraform_json() -> None:
    plain = {k: v["value"] for k, v in sample.outputs().items()}
    assert Inventory.from_outputs("r1-h100", plain) == sample.inventory()


def test_missing_outputs_name_what_is_missing() -> None:
    outputs = sample.outputs()
    del outputs["nodes"], outputs["ssh_user"]
    with pytest.raises(UserError, match="outputs lack nodes, ssh_user; re-synthesize"):
        Inventory.from_outputs("r1-h100", outputs)


def test_a_bad_node_field_is_one_line_naming_it() -> None:
    outputs = sample.outputs()
    outputs["nodes"]["value"][1]["role"] = "leader"
    with pytest.raises(UserError, match=r"output nodes\.1\.role: Input should be 'head' or"):
        Inventory.from_outputs("r1-h100", outputs)


def test_inventory_file_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"--inventory = .*: No such file"):
        Inventory.from_file("s", tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(UserError, match="not JSON"):
        Inventory.from_file("s", bad)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(sample.outputs()))
    assert Inventory.from_file("r1-h100", good) == sample.inventory()


def test_terraform_missing_stack_folder_and_never_deployed(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"no .*stacks/s1; run `gpuform synth s1`"):
        Inventory.from_terraform("s1", tmp_path)
    (tmp_path / "stacks" / "s1").mkdir(parents=True)
    with pytest.raises(UserError, match="'no-such-terraform' is not on PATH"):
        Inventory.from_terraform("s1", tmp_path, terraform="no-such-terraform")
    fake = _fake_terraform(tmp_path, "echo '{}'")
    with pytest.raises(UserError, match="has no Terraform outputs: it was never deployed"):
        Inventory.from_terraform("s1", tmp_path, terraform=str(fake))


def test_terraform_errors_show_its_first_error_line(tmp_path: Path) -> None:
    (tmp_path / "stacks" / "s1").mkdir(parents=True)
    fake = _fake_terraform(
        tmp_path, "printf '╷\\n│ Error: Backend initialization required\\n│ more\\n' >&2; exit 1"
    )
    with pytest.raises(UserError, match=r"failed: Error: Backend initialization required$"):
        Inventory.from_terraform("s1", tmp_path, terraform=str(fake))


def test_terraform_outputs_are_read_in_the_stack_folder(tmp_path: Path) -> None:
    folder = tmp_path / "stacks" / "r1-h100"
    folder.mkdir(parents=True)
    (folder / "outputs.json").write_text(json.dumps(sample.outputs()))
    fake = _fake_terraform(tmp_path, 'test "$1 $2" = "output -json" && cat outputs.json')
    assert Inventory.from_terraform("r1-h100", tmp_path, str(fake)) == sample.inventory()


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("all", [0, 1, 2, 3]),
        ("head", [0, 2]),
        ("heads", [0, 2]),
        ("workers", [1, 3]),
        ("0,2-3", [0, 2, 3]),
        ("3,1", [1, 3]),
        ("r1-h100-node-1", [1]),
        ("node2,heads", [0, 2]),
    ],
)
def test_selectors(selector: str, expected: list[int]) -> None:
    assert [n.index for n in select(sample.inventory(), selector)] == expected


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("7", "node '7': stack 'r1-h100' has nodes 0 to 3"),
        ("2-9", "node '2-9': stack 'r1-h100' has nodes 0 to 3"),
        ("gpu1", "node 'gpu1': no such node in stack 'r1-h100'; use all, heads"),
        (",", "--nodes = ',': selects no node"),
    ],
)
def test_bad_selectors_are_one_line(selector: str, message: str) -> None:
    with pytest.raises(UserError) as err:
        select(sample.inventory(), selector)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_one_node_by_index_name_or_hostname() -> None:
    inv = sample.inventory()
    assert one(inv, "1").index == one(inv, "node1").index == one(inv, "r1-h100-node-1").index == 1
    with pytest.raises(UserError, match="names 2 nodes"):
        one(inv, "workers")


def _fake_terraform(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "terraform"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    assert os.access(path, os.X_OK)
    return path
