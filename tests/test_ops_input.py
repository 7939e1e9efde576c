"""Day-2 input a hostile user gives: stack names, other stacks' outputs, non-numbers, hangs.

Each is answered before anything connects or writes: one line naming the field, exit 2.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from infra.errors import UserError
from infra.ops import endpoint, inventory
from infra.ops.inventory import Inventory
from infra.ops.names import STACK_NAME, stack_name
from infra.specs.deployment import Deployment
from tests.conftest import GPUFORM
from tests.ops import sample

COMMANDS = [
    ["ssh"], ["ssh-config"], ["exec", "--", "true"], ["logs", "0"], ["wait"], ["status"],
]  # fmt: skip


def _gpuform(home: Path, *args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SSH_", "GPUFORM_"))}
    env.update(HOME=str(home), NO_COLOR="1")
    return subprocess.run(
        [str(GPUFORM), *args], cwd=home, capture_output=True, text=True, env=env,
        timeout=timeout_s, check=False,
    )  # fmt: skip


def _outputs_file(folder: Path, **changes: object) -> Path:
    outputs = sample.outputs()
    for key, value in changes.items():
        outputs[key] = {"value": value, "type": "string", "sensitive": False}
    path = folder / "outputs.json"
    path.write_text(json.dumps(outputs))
    return path


def _files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


CASES = [(c, "../../x") for c in COMMANDS] + [
    (["exec", "--", "true"], name) for name in ("../../../x", "a/b", "X-upper", "r1-h100\n", "ab")
]


@pytest.mark.parametrize(("command", "name"), CASES, ids=[f"{c[0]} {n!r}" for c, n in CASES])
def test_a_stack_name_that_is_no_deployment_name_is_refused_and_nothing_is_written(
    tmp_path: Path, command: list[str], name: str
) -> None:
    home = tmp_path / "home"
    (home / "deep" / "er").mkdir(parents=True)
    inv = _outputs_file(home)
    before = _files_under(tmp_path)
    cmd, *rest = command
    split = rest.index("--") if "--" in rest else len(rest)
    r = _gpuform(home, cmd, name, *rest[:split], "--inventory", str(inv), *rest[split:])
    assert r.returncode == 2, r.stderr
    assert r.stderr == (
        f"gpuform: stack = {name!r}: a stack name is 3-40 lowercase letters, digits and dashes, "
        "starting with a letter (its deployment.name)\n"
    )
    assert _files_under(tmp_path) == before


def test_the_day2_stack_name_rule_is_the_specs_rule() -> None:
    names = ["ab", "abc", "r1-h100", "a" * 40, "a" * 41, "1ab", "ab-", "a-b", "A-b", "a_b", "a.b"]
    for name in names:
        try:
            Deployment.model_validate(
                {"name": name, "region": "us-ashburn-1", "ssh_allowed_cidrs": ["10.0.0.0/8"],
                 "api_allowed_cidrs": ["10.0.0.0/8"]}
            )  # fmt: skip
            spec_ok = True
        except ValueError:
            spec_ok = False
        assert (STACK_NAME.fullmatch(name) is not None) == spec_ok, name
    with pytest.raises(UserError):
        stack_name("r1-h100\n")


def test_another_stacks_outputs_are_refused(tmp_path: Path) -> None:
    outputs = sample.outputs()
    with pytest.raises(UserError) as err:
        Inventory.from_outputs("opslab", outputs)
    assert str(err.value) == (
        "stack 'opslab': these outputs are stack 'r1-h100''s; name that stack, or pass the "
        "outputs of 'opslab'"
    )
    # Outputs saved before the `stack` output existed: the node names tell whose they are.
    del outputs["stack"]
    with pytest.raises(UserError, match="these outputs name node 'r1-h100-node-0', not opslab-"):
        Inventory.from_outputs("opslab", outputs)
    assert Inventory.from_outputs("r1-h100", outputs).stack == "r1-h100"
    r = _gpuform(tmp_path, "exec", "opslab", "--inventory", str(_outputs_file(tmp_path)), "--",
                 "true")  # fmt: skip
    assert r.returncode == 2
    assert r.stderr.startswith("gpuform: stack 'opslab': these outputs are stack 'r1-h100''s")


@pytest.mark.parametrize(
    "url", ["not a url", "ftp://203.0.113.8/v1", "http://", "http://203.0.113.8:99999/v1"]
)
def test_an_endpoint_url_that_is_not_an_http_url_is_one_line(tmp_path: Path, url: str) -> None:
    with pytest.raises(UserError) as err:
        Inventory.from_outputs("r1-h100", {**sample.outputs(), "endpoint_url": url})
    assert str(err.value).startswith(f"stack 'r1-h100': output endpoint_url: {url!r} is not ")
    for command in ("status", "wait"):
        r = _gpuform(tmp_path, command, "r1-h100", "--inventory",
                     str(_outputs_file(tmp_path, endpoint_url=url)))  # fmt: skip
        assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, r.stderr
        assert "output endpoint_url: " in r.stderr


def test_the_endpoint_check_never_raises_for_a_url_urllib_cannot_use() -> None:
    state = endpoint.check("nonsense", timeout_s=1)
    assert not state.ok and state.detail.startswith("not a URL: unknown url type")


def test_a_terraform_that_hangs_is_stopped_with_its_children_and_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A wrapper whose own child holds the pipes: killing the wrapper alone leaves them open.
    (tmp_path / "stacks" / "r1-h100").mkdir(parents=True)
    pid_file = tmp_path / "child.pid"
    fake = tmp_path / "terraform"
    fake.write_text(f"#!/bin/sh\nsleep 600 &\necho $! >{pid_file}\nwait\n")
    fake.chmod(0o755)
    monkeypatch.setattr(inventory, "TERRAFORM_TIMEOUT_S", 1.0)
    raised: list[BaseException] = []

    def read() -> None:
        try:
            Inventory.from_terraform("r1-h100", tmp_path, str(fake))
        except BaseException as err:
            raised.append(err)

    started = time.monotonic()
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(15)
    child = int(pid_file.read_text())
    try:
        assert not reader.is_alive(), "terraform output still waited on after 15 s"
        assert time.monotonic() - started < 10
        assert len(raised) == 1 and isinstance(raised[0], UserError)
        assert f"`{fake} output` in {tmp_path}/stacks/r1-h100 did not finish in 1s" in str(
            raised[0]
        )
        time.sleep(0.2)
        assert not Path(f"/proc/{child}").exists() or "zombie" in _state(child)
    finally:
        if Path(f"/proc/{child}").exists():
            os.kill(child, 9)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split("\n")[0]
    except OSError:
        return "zombie"


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["exec", "r1-h100", "--timeout", "inf", "--", "true"], "'--timeout' / '-t'"),
        (["exec", "r1-h100", "--timeout", "nan", "--", "true"], "'--timeout' / '-t'"),
        (["exec", "r1-h100", "--timeout", "-1", "--", "true"], "'--timeout' / '-t'"),
        (["wait", "r1-h100", "--timeout", "inf"], "'--timeout' / '-t'"),
        (["wait", "r1-h100", "--interval", "nan"], "'--interval'"),
        (["wait", "r1-h100", "--timeout", "1e300"], "'--timeout' / '-t'"),
    ],
)
def test_a_timeout_that_is_no_number_of_seconds_is_one_line(
    tmp_path: Path, args: list[str], option: str
) -> None:
    r = _gpuform(tmp_path, *args[:2], "--inventory", str(_outputs_file(tmp_path)), *args[2:])
    assert r.returncode == 2, r.stderr
    value = args[args.index(option.split("'")[1]) + 1]
    shown = f"{float(value):g}"
    assert r.stderr.startswith(
        f"gpuform: Invalid value for {option}: {shown} is not a number of seconds from "
    ), r.stderr
    assert len(r.stderr.splitlines()) == 1


@pytest.mark.parametrize("doc", ["README.md", "docs/operations.md"])
def test_the_exit_code_table_in_the_docs_is_the_one_the_commands_follow(doc: str) -> None:
    from infra.ops import exits
    from tests.conftest import REPO

    assert exits.markdown() in (REPO / doc).read_text()


def test_ssh_config_never_replaces_a_file_gpuform_did_not_write(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    mine = folder / "r1-h100.conf"
    mine.write_text("Host work\n  HostName 192.0.2.1\n")
    args = ["ssh-config", "r1-h100", "--inventory", str(_outputs_file(tmp_path))]
    r = _gpuform(tmp_path, *args, "--dir", str(folder))
    assert r.returncode == 2
    assert r.stderr == (
        f"gpuform: {mine} exists and gpuform did not write it (its first line is not "
        "'# gpuform: stack ...'); leaving it as it is. Move it, or write elsewhere (--dir)\n"
    )
    assert mine.read_text() == "Host work\n  HostName 192.0.2.1\n"
    mine.unlink()
    assert _gpuform(tmp_path, *args, "--dir", str(folder)).returncode == 0
    again = _gpuform(tmp_path, *args, "--dir", str(folder))  # its own file: replaced
    assert again.returncode == 0, again.stderr


def test_gpuform_ssh_writes_its_config_in_its_own_folder_whatever_known_hosts_says(
    tmp_path: Path,
) -> None:
    # --known-hosts beside a user's (or the system's) ssh_config must not replace that file.
    etc = tmp_path / "etc-ssh"
    etc.mkdir()
    theirs = etc / "ssh_config"
    theirs.write_text("Host *\n  SendEnv LANG\n")
    # Nothing listens on the bastion's port: ssh fails at once, after gpuform wrote its config.
    outputs = _outputs_file(tmp_path, bastion_public_ip="127.0.0.1")
    data = json.loads(outputs.read_text())
    data["bastion_port"] = {"value": 1, "type": "number", "sensitive": False}
    outputs.write_text(json.dumps(data))
    r = _gpuform(tmp_path, "ssh", "r1-h100", "bastion", "--inventory", str(outputs),
                 "--known-hosts", str(etc / "ssh_known_hosts"))  # fmt: skip
    assert r.returncode == 255, r.stderr
    assert theirs.read_text() == "Host *\n  SendEnv LANG\n"
    written = (tmp_path / ".gpuform" / "r1-h100" / "ssh_config").read_text()
    assert f"UserKnownHostsFile {etc / 'ssh_known_hosts'}" in written


def test_every_synthesized_stack_names_itself_in_its_outputs(
    synthesized: dict[str, dict[str, Any]],
) -> None:
    # What `gpuform exec STACK --inventory FILE` checks a saved `terraform output -json` by.
    for name, doc in synthesized.items():
        outputs = doc["output"]
        assert outputs["stack"]["value"] == name
        nodes = outputs["nodes"]["value"]
        assert [n["name"] for n in nodes] == [f"{name}-node-{n['index']}" for n in nodes]


def test_the_six_day2_commands_share_one_option_set() -> None:
    import typer

    from infra.cli.main import app

    group = typer.main.get_command(app)
    shared = ["--out", "--inventory", "--terraform", "--identity", "--known-hosts"]
    for name in ("ssh", "ssh-config", "exec", "logs", "wait", "status"):
        params = group.commands[name].params  # type: ignore[attr-defined]
        assert params[0].name == "stack", name
        assert [o for p in params for o in p.opts if o in shared] == shared, name
        # The shared options come last, after the command's own.
        assert params[-len(shared) :] == [p for p in params if p.opts[0] in shared], name


@pytest.mark.parametrize(
    "selector", ["0-99999999999", "99999999999999999999999", "1-" + "9" * 5000, "²", "3-1"]
)
def test_a_node_range_past_the_stack_is_one_line_at_once(selector: str) -> None:
    from infra.ops.select import select

    started = time.monotonic()
    with pytest.raises(UserError) as err:
        select(sample.inventory(), selector)
    assert time.monotonic() - started < 1
    assert str(err.value).startswith(f"node {selector!r}: ")


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("option", ["--inventory", "--identity", "--known-hosts"])
@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_a_device_or_fifo_as_a_file_option_is_one_line_not_a_hang(
    tmp_path: Path, option: str, special: str
) -> None:
    path = str(_fifo(tmp_path)) if special == "fifo" else special
    inv = str(_outputs_file(tmp_path))
    given = {"--inventory": inv, option: path}
    args = [a for k, v in given.items() for a in (k, v)]
    r = _gpuform(tmp_path, "exec", "r1-h100", *args, "--", "true", timeout_s=30)
    assert r.returncode == 2, r.stderr
    assert r.stderr == (
        f"gpuform: {option} = {path!r}: not a regular file (a device, FIFO or folder)\n"
    )


def test_outputs_nested_too_deeply_are_one_line(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(UserError, match=r"not JSON \(nested too deeply\)"):
        Inventory.from_file("r1-h100", deep)


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("nodes.0.name", "r1-h100-node-0\n  ProxyCommand touch /tmp/owned"),
        ("nodes.0.hostname", "node0 extra"),
        ("nodes.0.private_ip", "10.0.16.10\n  ProxyCommand touch /tmp/owned"),
        ("bastion_public_ip", "-oProxyCommand=touch"),
        ("ssh_user", "ubuntu\n  ProxyCommand touch /tmp/owned"),
    ],
)
def test_outputs_that_would_add_lines_to_the_ssh_config_are_refused(where: str, value: str) -> None:
    outputs = {k: v["value"] for k, v in sample.outputs().items()}
    if where.startswith("nodes."):
        outputs["nodes"][0][where.split(".")[2]] = value
    else:
        outputs[where] = value
    with pytest.raises(UserError) as err:
        Inventory.from_outputs("r1-h100", outputs)
    assert str(err.value).startswith(f"stack 'r1-h100': output {where}: {value!r} is not ")


def test_an_ssh_config_folder_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    inv = str(_outputs_file(tmp_path))
    r = _gpuform(tmp_path, "ssh-config", "r1-h100", "--inventory", inv, "--dir", "/proc/gpuform")
    assert r.returncode == 2
    assert r.stderr == (
        "gpuform: /proc/gpuform/r1-h100.conf: cannot write it (No such file or directory); "
        "choose a folder with --dir\n"
    )
