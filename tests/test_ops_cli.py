"""The day-2 commands as a user runs them: the installed `gpuform`, real sshd, plain ssh.

Every command runs inside the lab's client namespace with a fresh HOME, so known_hosts and
ssh configs start empty; nodes answer systemctl, journalctl and nvidia-smi from stand-ins.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ops import lab as labs
from tests.ops import sshd, stubs
from tests.ops.lab import run_gpuform

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(labs.CANNOT), reason=labs.CANNOT or "runs"),
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[labs.Lab]:
    with labs.lab(tmp_path_factory.mktemp("opscli"), nodes=3) as running:
        yield running


@pytest.fixture
def home(tmp_path: Path, lab: labs.Lab) -> Path:
    """A fresh HOME, every node's steps active again."""
    for i in range(len(lab.addresses)):
        for unit in ("gpuform.target", *labs.STEPS):
            stubs.set_unit(lab.node_dir(i), unit, "active", "running")
    return tmp_path


def _gpuform(lab: labs.Lab, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    access = ["--inventory", str(lab.inventory_file()), "--identity", str(lab.key)]
    command, rest = args[0], list(args[1:])
    split = rest.index("--") if "--" in rest else len(rest)
    result: subprocess.CompletedProcess[str] = run_gpuform(
        lab, home, [command, *rest[:split], *access, *rest[split:]]
    )
    return result


def test_exec_prefixes_output_and_fails_when_one_node_fails(lab: labs.Lab, home: Path) -> None:
    cmd = 'set -- $SSH_CONNECTION; echo "on $3"; [ "$3" != 10.211.0.11 ] || exit 3'
    r = _gpuform(lab, home, "exec", "opslab", "--", cmd)
    assert r.returncode == 1, r.stderr
    assert sorted(r.stdout.splitlines()) == [
        "opslab-node-0 | on 10.211.0.10", "opslab-node-1 | on 10.211.0.11",
        "opslab-node-2 | on 10.211.0.12",
    ]  # fmt: skip
    err = r.stderr.splitlines()
    assert sum(line.startswith("gpuform: first contact with ") for line in err) == 4
    assert [line.split(" (")[0] for line in err if " : " in line] == [
        "opslab-node-0 : exit 0", "opslab-node-1 : exit 3", "opslab-node-2 : exit 0",
    ]  # fmt: skip
    assert err[-1].startswith("2/3 ok; 1 exited non-zero: opslab-node-1 (3) in ")


def test_exec_on_selected_nodes_succeeds(lab: labs.Lab, home: Path) -> None:
    r = _gpuform(lab, home, "exec", "opslab", "--nodes", "workers", "--timeout", "20", "--", "true")
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines()[-1].startswith("2/2 ok in ")


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["exec", "opslab", "--nodes", "9", "--", "true"],
         "gpuform: node '9': stack 'opslab' has nodes 0 to 2"),
        (["logs", "opslab", "node7"],
         "gpuform: node 'node7': no such node in stack 'opslab'; use all, heads, workers"),
        (["exec", "opslab", "--timeout", "0", "--", "true"],
         "gpuform: Invalid value for '--timeout' / '-t': "),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(
    lab: labs.Lab, home: Path, args: list[str], line: str
) -> None:
    r = _gpuform(lab, home, *args)
    assert r.returncode == 2
    assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith(line), r.stderr


def test_a_wrong_key_is_one_line_and_exit_2(lab: labs.Lab, home: Path) -> None:
    stranger = sshd.keygen(home / "stranger")
    r = run_gpuform(
        lab, home, ["exec", "opslab", "--inventory", str(lab.inventory_file()),
                    "--identity", str(stranger), "--", "true"],
    )  # fmt: skip
    assert r.returncode == 2
    lines = [line for line in r.stderr.splitlines() if "first contact" not in line]
    assert lines == [
        f"gpuform: bastion {labs.BASTION_PUBLIC} (root@{labs.BASTION_PUBLIC}): authentication "
        f"refused for key {stranger}; pass --identity with the private key whose public key the "
        "stack was deployed with"
    ]


def test_ssh_config_works_with_plain_ssh_and_the_keys_gpuform_recorded(
    lab: labs.Lab, home: Path
) -> None:
    assert _gpuform(lab, home, "exec", "opslab", "--", "true").returncode == 0
    r = _gpuform(lab, home, "ssh-config", "opslab", "--dir", str(home / "conf"))
    assert r.returncode == 0, r.stderr
    conf = home / "conf" / "opslab.conf"
    assert r.stdout.splitlines()[0] == (
        f"wrote {conf} (hosts opslab-bastion, opslab-node-0, opslab-node-1, opslab-node-2)"
    )
    assert "  Include ~/conf/*.conf" in r.stdout.splitlines()
    text = conf.read_text()
    assert "Host opslab-node-2\n  HostName 10.211.0.12\n  User root\n" in text
    assert f"UserKnownHostsFile {home}/.gpuform/opslab/known_hosts" in text
    assert "ProxyJump opslab-bastion" in text
    # StrictHostKeyChecking=yes: plain ssh must find the node's key where gpuform put it.
    ssh = subprocess.run(
        lab.in_client(["ssh", "-F", str(conf), "-o", "StrictHostKeyChecking=yes",
                       "-o", "BatchMode=yes", "opslab-node-2", "echo plain ssh on $(hostname -I)"]),
        capture_output=True, text=True, env=lab.client_env(home), timeout=60, check=False,
    )  # fmt: skip
    assert ssh.returncode == 0, ssh.stderr
    assert ssh.stdout.startswith("plain ssh on ")


@pytest.mark.parametrize(("target", "address"), [("2", "10.211.0.12"), ("bastion", "10.210.0.2")])
def test_gpuform_ssh_gives_a_shell_there(
    lab: labs.Lab, home: Path, target: str, address: str
) -> None:
    access = ["--inventory", str(lab.inventory_file()), "--identity", str(lab.key)]
    from tests.conftest import GPUFORM

    r = subprocess.run(
        lab.in_client([str(GPUFORM), "ssh", "opslab", target, *access]),
        input='set -- $SSH_CONNECTION; echo "shell on $3"; exit 5\n',
        capture_output=True, text=True, env=lab.client_env(home), timeout=60, check=False,
    )  # fmt: skip
    assert r.returncode == 5, r.stderr
    assert f"shell on {address}" in r.stdout


def test_status_shows_each_node_and_step_over_ssh(lab: labs.Lab, home: Path) -> None:
    stubs.set_unit(lab.node_dir(1), "gpuform-engine.service", "failed", "failed",
                   "gpuform: the engine exited: CUDA error: no device")  # fmt: skip
    stubs.set_unit(lab.node_dir(1), "gpuform-ready.service", "inactive", "dead")
    r = _gpuform(lab, home, "status", "opslab")
    assert r.returncode == 0, r.stderr
    rows = {
        line.split()[0]: line for line in r.stdout.splitlines() if line.startswith("opslab-node-")
    }
    del rows["opslab-node-1:"]  # the note under the table
    assert set(rows) == {"opslab-node-0", "opslab-node-1", "opslab-node-2"}
    assert "head r0" in rows["opslab-node-0"] and "8 (nvidia-smi)" in rows["opslab-node-0"]
    assert rows["opslab-node-1"].split("│")[-3:] == [" active   ", " failed ", " inactive"]
    notes = r.stdout.splitlines()
    assert (
        "opslab-node-1: engine failed: gpuform: the engine exited: CUDA error: no device" in notes
    )
    assert "instance state: no OCI credentials" in notes


def test_wait_reports_the_missing_step_at_timeout_then_sees_it_done(
    lab: labs.Lab, home: Path
) -> None:
    stubs.set_unit(lab.node_dir(2), "gpuform-ready.service", "activating", "start",
                   "gpuform: waiting for http://127.0.0.1:8000/v1/models")  # fmt: skip
    args = ("wait", "opslab", "--timeout", "2", "--interval", "0.5", "--no-endpoint")
    r = _gpuform(lab, home, *args)
    assert r.returncode == 1, r.stderr
    assert r.stderr.splitlines()[-3:] == [
        "not ready after 2s; still missing:",
        "  opslab-node-2:",
        "    gpuform-ready.service: activating (start): gpuform: waiting for "
        "http://127.0.0.1:8000/v1/models",
    ]
    assert any(
        line.endswith("opslab-node-2: 2/3 steps, ready activating (start)")
        for line in r.stdout.splitlines()
    )
    stubs.set_unit(lab.node_dir(2), "gpuform-ready.service", "active", "exited")
    done = _gpuform(lab, home, *args)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith("opslab is ready after ")


def test_wait_polls_through_a_bastion_that_does_not_answer_yet(lab: labs.Lab, home: Path) -> None:
    # Nothing listens on port 22 at the client's own address: a bastion still booting.
    down = lab.inventory_file(bastion=labs.CLIENT)
    r = run_gpuform(
        lab, home, ["wait", "opslab", "--timeout", "2", "--interval", "0.5", "--no-endpoint",
                    "--inventory", str(down), "--identity", str(lab.key)],
    )  # fmt: skip
    assert r.returncode == 1, r.stderr
    report = r.stderr.splitlines()
    assert report[0] == "not ready after 2s; still missing:"
    assert report[1:3] == [
        "  opslab-node-0:",
        f"    ssh: unreachable: bastion {labs.CLIENT}:22: Connection refused",
    ]
    assert "  opslab-node-2:" in report


def test_logs_prints_the_gpuform_journal_and_follows_until_interrupted(
    lab: labs.Lab, home: Path
) -> None:
    r = _gpuform(lab, home, "logs", "opslab", "0", "--lines", "50")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "journalctl stand-in (SYSTEMD_COLORS=0): -u gpuform-* -u gpuform.target -b --no-pager "
        "-o short-iso -n 50"
    ]
    from tests.conftest import GPUFORM

    access = ["--inventory", str(lab.inventory_file()), "--identity", str(lab.key)]
    pid_file = lab.node_dir(1) / "follow.pid"
    pid_file.unlink(missing_ok=True)
    proc = subprocess.Popen(
        lab.in_client([str(GPUFORM), "logs", "opslab", "1", "--follow", *access]),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=lab.client_env(home),
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = [proc.stdout.readline().strip() for _ in range(3)]
        assert first[0].endswith("-n 200 -f") and first[1:] == ["follow line 1", "follow line 2"]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert proc.returncode == 130
    # Closing the channel hangs up the remote journalctl (it ran on a PTY).
    remote = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{remote}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{remote}")
