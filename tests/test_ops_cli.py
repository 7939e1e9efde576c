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

from infra.ops import exits
from tests.ops import lab as labs
from tests.ops import remote, sshd, stubs
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


def _popen(lab: labs.Lab, home: Path, args: list[str]) -> subprocess.Popen[str]:
    """gpuform started in a process group of its own, as a terminal's foreground job is."""
    from tests.conftest import GPUFORM

    return subprocess.Popen(
        lab.in_client([str(GPUFORM), *args]), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=lab.client_env(home), start_new_session=True,
    )  # fmt: skip


def _ctrl_c(proc: subprocess.Popen[str], within_s: float) -> tuple[int | None, float]:
    """Ctrl-C as a terminal sends it (SIGINT to the foreground group); (exit code, seconds)."""
    started = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=within_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        return None, time.monotonic() - started
    return proc.returncode, time.monotonic() - started


def test_ctrl_c_on_exec_stops_the_command_on_every_node(lab: labs.Lab, home: Path) -> None:
    sleeper = "sleep 777.125"
    access = ["--inventory", str(lab.inventory_file()), "--identity", str(lab.key)]
    proc = _popen(lab, home, ["exec", "opslab", *access, "--", sleeper])
    try:
        assert len(remote.appear(sleeper, 3, within_s=30)) == 3, proc.stderr
        code, seconds = _ctrl_c(proc, within_s=10)
    finally:
        left = remote.gone(sleeper, within_s=10)
    assert code == 130 and seconds < 10
    assert left == [], f"{len(left)} node(s) still run {sleeper} after Ctrl-C"


def test_a_changed_host_key_is_exit_2_in_every_command_and_wait_does_not_poll(
    lab: labs.Lab, home: Path
) -> None:
    assert _gpuform(lab, home, "exec", "opslab", "--", "true").returncode == 0
    lab.rekey_node(1)
    changed = "opslab-node-1 (10.211.0.11): host key changed: it offers ssh-ed25519 "
    for args in (
        ("exec", "opslab", "--", "true"), ("status", "opslab", "--no-endpoint"),
        ("logs", "opslab", "1"),
        ("wait", "opslab", "--timeout", "60", "--interval", "1", "--no-endpoint"),
    ):  # fmt: skip
        started = time.monotonic()
        r = _gpuform(lab, home, *args)
        assert r.returncode == 2, (args, r.returncode, r.stderr)
        assert changed in r.stdout + r.stderr, (args, r.stderr)
        assert time.monotonic() - started < 20, args
    assert r.stderr.splitlines()[0].startswith("stopped after ")


def test_wait_with_a_silent_bastion_returns_within_its_timeout(
    lab: labs.Lab, home: Path, tmp_path: Path
) -> None:
    # The bastion's address accepts TCP and never sends an SSH banner.
    silent = sshd.start_hanging(netns=lab.client_ns, address=labs.CLIENT, workdir=tmp_path)
    try:
        started = time.monotonic()
        r = run_gpuform(
            lab, home, ["wait", "opslab", "--timeout", "4", "--interval", "1", "--no-endpoint",
                        "--inventory", str(lab.inventory_file(bastion=labs.CLIENT)),
                        "--identity", str(lab.key)],
        )  # fmt: skip
        seconds = time.monotonic() - started
    finally:
        silent.stop()
    assert r.returncode == 1, r.stderr
    # The bastion alone used to take 20 s (wait --timeout 10 took 31 s). The margin holds a
    # minimum 3 s probe and Python's start-up on a busy 2-core runner.
    assert seconds < 4 + 8, f"wait --timeout 4 took {seconds:.0f}s"
    assert r.stderr.splitlines()[0] == "not ready after 4s; still missing:"


def test_gpuform_ssh_to_a_silent_node_stops_on_ctrl_c_and_its_config_bounds_the_wait(
    lab: labs.Lab, home: Path
) -> None:
    access = ["--inventory", str(lab.inventory_file()), "--identity", str(lab.key)]
    lab.hang_node(2)
    try:
        proc = _popen(lab, home, ["ssh", "opslab", "2", *access])
        time.sleep(3)  # ssh is through the bastion, waiting for node 2's banner
        assert proc.poll() is None, proc.communicate()
        code, seconds = _ctrl_c(proc, within_s=10)
    finally:
        lab.start_node(2)
    assert code == 130 and seconds < 10, code
    # The consumer reads the config: `ssh -G` prints what ssh will use for the node.
    config = home / ".gpuform" / "opslab" / "ssh_config"
    shown = subprocess.run(
        ["ssh", "-G", "-F", str(config), "opslab-node-2"], capture_output=True, text=True,
        timeout=30, check=True,
    ).stdout.splitlines()  # fmt: skip
    assert {"connecttimeout 20", "serveraliveinterval 15", "serveralivecountmax 3"} <= set(shown)


@pytest.mark.parametrize("after_lines", [0, 1, 3])
def test_logs_follow_stops_on_the_first_ctrl_c_wherever_it_is(
    lab: labs.Lab, home: Path, after_lines: int
) -> None:
    # One SIGINT, while connecting (0 lines) or while lines stream: exit 130 within seconds,
    # and the remote journalctl is gone with it.
    access = ["--inventory", str(lab.inventory_file()), "--identity", str(lab.key)]
    pid_file = lab.node_dir(2) / "follow.pid"
    pid_file.unlink(missing_ok=True)
    proc = _popen(lab, home, ["logs", "opslab", "2", "--follow", *access])
    assert proc.stdout is not None
    for _ in range(after_lines):
        assert proc.stdout.readline(), proc.stderr
    if not after_lines:  # the bastion is reached (its first contact told), not yet the node
        assert proc.stderr is not None
        assert "first contact with bastion" in proc.stderr.readline()
    code, seconds = _ctrl_c(proc, within_s=10)
    assert code == 130 and seconds < 10, (code, seconds)
    if pid_file.exists():
        remote_pid = int(pid_file.read_text())
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{remote_pid}") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not os.path.exists(f"/proc/{remote_pid}")


def test_a_command_that_ended_leaves_its_background_job_running(lab: labs.Lab, home: Path) -> None:
    job = "sleep 305.75"
    r = _gpuform(lab, home, "exec", "opslab", "--nodes", "0", "--", f"{job} >/dev/null 2>&1 &")
    try:
        assert r.returncode == 0, r.stderr
        time.sleep(1)  # the channel is closed: a watcher that fired would have killed it by now
        assert len(remote.running(job)) == 1
    finally:
        remote.gone(job, within_s=0)


_DOWN = "down"  # the bastion's address refuses connections: the network is at fault
TABLE_CASES = [
    (["exec", "opslab", "--", "true"], None, exits.OK),
    (["exec", "opslab", "--", "false"], None, exits.FAILED),
    (["exec", "opslab", "--timeout", "5", "--", "true"], _DOWN, exits.FAILED),
    (["exec", "opslab", "--nodes", "9", "--", "true"], None, exits.BAD_INPUT),
    (["status", "opslab"], None, exits.OK),
    (["status", "opslab"], _DOWN, exits.FAILED),
    (["status", "Opslab"], None, exits.BAD_INPUT),
    (["logs", "opslab", "0"], None, exits.OK),
    (["logs", "opslab", "0"], _DOWN, exits.FAILED),
    (["logs", "opslab", "node7"], None, exits.BAD_INPUT),
    (["wait", "opslab", "--no-endpoint"], None, exits.OK),
    (["wait", "opslab", "--timeout", "1", "--no-endpoint"], _DOWN, exits.FAILED),
    (["wait", "opslab", "--timeout", "inf"], None, exits.BAD_INPUT),
    (["ssh-config", "opslab"], None, exits.OK),
    (["ssh-config", "../opslab"], None, exits.BAD_INPUT),
]


@pytest.mark.parametrize(
    ("args", "bastion", "code"), TABLE_CASES, ids=[f"{a[0]}-{c}" for a, _, c in TABLE_CASES]
)
def test_every_command_follows_the_exit_code_table(
    lab: labs.Lab, home: Path, args: list[str], bastion: str | None, code: int
) -> None:
    # Codes 2 for a changed host key and 130 for Ctrl-C: the tests above, for each command.
    where = labs.CLIENT if bastion == _DOWN else labs.BASTION_PUBLIC
    access = ["--inventory", str(lab.inventory_file(bastion=where)), "--identity", str(lab.key)]
    split = args.index("--") if "--" in args else len(args)
    r = run_gpuform(lab, home, [*args[:split], *access, *args[split:]])
    assert r.returncode == code, (r.returncode, r.stderr)
    if code == exits.BAD_INPUT:
        assert len(r.stderr.splitlines()) == 1, r.stderr


def test_a_known_hosts_that_cannot_be_written_is_one_line_and_exit_2(
    lab: labs.Lab, home: Path
) -> None:
    r = run_gpuform(
        lab, home, ["exec", "opslab", "--inventory", str(lab.inventory_file()), "--identity",
                    str(lab.key), "--known-hosts", "/proc/gpuform/known_hosts", "--", "true"],
    )  # fmt: skip
    assert r.returncode == 2
    assert r.stderr == (
        f"gpuform: {labs.BASTION_PUBLIC}: cannot record its host key in "
        "/proc/gpuform/known_hosts (No such file or directory); pass --known-hosts with a file "
        "in a folder you can write\n"
    )
