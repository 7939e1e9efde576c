"""The SSH transport against real sshd daemons: a bastion and 8 nodes in network namespaces.

Every connection goes client namespace -> bastion sshd -> node sshd (direct-tcpip), the way
gpuform reaches OCI nodes; nodes are on a bridge only the bastion shares.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.ops.fanout import run_all
from infra.ops.hostkeys import KnownHosts
from infra.ops.inventory import Inventory
from infra.ops.keys import Credentials
from infra.ops.ssh import SshTransport
from infra.ops.transport import AuthFailed
from tests.ops import lab as labs
from tests.ops import remote, sshd

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(labs.CANNOT), reason=labs.CANNOT or "runs"),
]

#: Each node prints its own address (the server side of $SSH_CONNECTION) and exits with its
#: last octet mod 7, so every host's output and exit code are its own.
WHO = 'set -- $SSH_CONNECTION; echo "host $3"; echo "to stderr $3" >&2; exit $(( ${3##*.} % 7 ))'


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[labs.Lab]:
    with labs.lab(tmp_path_factory.mktemp("opslab"), nodes=8) as running:
        yield running


def _transport(
    lab: labs.Lab, tmp_path: Path, inv: Inventory | None = None, key: Path | None = None
) -> SshTransport:
    creds = Credentials(key or lab.key, use_agent=False)
    hosts = KnownHosts(tmp_path / "known_hosts")
    return SshTransport(inv or lab.inventory(), creds, hosts, connector=lab.connector())


def test_exec_on_8_hosts_returns_each_hosts_output_and_exit_code(
    lab: labs.Lab, tmp_path: Path
) -> None:
    t = _transport(lab, tmp_path)
    lines: list[tuple[str, str, str]] = []
    try:
        results = run_all(
            t, lab.inventory().nodes, WHO, timeout_s=30,
            sink=lambda node, stream, line: lines.append((node.name, stream, line)),
        )  # fmt: skip
    finally:
        t.close()
    assert len(results) == 8
    for r in results:
        ip = r.node.private_ip
        assert r.result.error is None, r.result.error
        assert (r.result.stdout, r.result.stderr) == (f"host {ip}\n", f"to stderr {ip}\n")
        assert r.result.exit_code == int(ip.rsplit(".", 1)[1]) % 7
        assert (r.node.name, "stdout", f"host {ip}") in lines
        assert (r.node.name, "stderr", f"to stderr {ip}") in lines


def test_a_down_host_a_hanging_host_and_a_slow_command_fail_alone(
    lab: labs.Lab, tmp_path: Path
) -> None:
    # node 5 runs a command past the deadline, node 7 accepts TCP and never answers the SSH
    # banner, and a ninth node has an address where no host exists.
    inv = lab.inventory([*lab.addresses, labs.ABSENT_ADDRESS])
    slow = f'set -- $SSH_CONNECTION; [ "$3" = {lab.addresses[5]} ] && sleep 61.25; echo ok'
    lab.hang_node(7)
    t = _transport(lab, tmp_path, inv)
    try:
        results = run_all(t, inv.nodes, slow, timeout_s=6)
    finally:
        t.close()
        lab.start_node(7)
    by_index = {r.node.index: r.result for r in results}
    for i in (0, 1, 2, 3, 4, 6):
        assert by_index[i].ok and by_index[i].stdout == "ok\n", by_index[i]
    assert by_index[5].error == "opslab-node-5: timed out after 6s; stopped the command there"
    # Closing its channel stopped it on the node: nothing is left running there.
    assert remote.gone("sleep 61.25", within_s=10) == []
    assert by_index[7].error == (
        "opslab-node-7 (10.211.0.17): no SSH banner in time: the port accepts connections but "
        "no SSH server answers"
    )
    assert by_index[8].error == (
        "opslab-node-8 (10.211.0.250): the bastion cannot connect to it (host down, or no sshd "
        "listening)"
    )
    assert all(by_index[i].exit_code is None for i in (5, 7, 8))


def test_nodes_are_reachable_only_through_the_bastion(lab: labs.Lab, tmp_path: Path) -> None:
    with pytest.raises(OSError):
        lab.connector()(lab.addresses[0], 22, 2).close()
    t = _transport(lab, tmp_path)
    try:
        result = t.run(lab.inventory().nodes[0], "echo via bastion", timeout_s=20)
    finally:
        t.close()
    assert result.ok and result.stdout == "via bastion\n"
    log = (lab.root / "bastion" / "sshd.log").read_text()
    assert f"Accepted publickey for root from {labs.CLIENT}" in log


def test_first_contact_records_and_logs_each_host_key(
    lab: labs.Lab, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    t = _transport(lab, tmp_path)
    with caplog.at_level(logging.INFO, logger="gpuform.ops"):
        try:
            assert all(
                r.result.ok for r in run_all(t, lab.inventory().nodes[:2], "true", timeout_s=20)
            )
        finally:
            t.close()
    recorded = (tmp_path / "known_hosts").read_text().splitlines()
    assert sorted(line.split()[0] for line in recorded) == sorted(
        [labs.BASTION_PUBLIC, *lab.addresses[:2]]
    )
    notices = [r.getMessage() for r in caplog.records if "first contact" in r.getMessage()]
    assert len(notices) == 3
    assert any(
        n.startswith(
            "first contact with opslab-node-1 (10.211.0.11): recorded its ssh-ed25519 key SHA256:"
        )
        for n in notices
    )


def test_a_changed_host_key_is_refused_with_one_line(lab: labs.Lab, tmp_path: Path) -> None:
    node = lab.inventory().nodes[6]
    t = _transport(lab, tmp_path)
    try:
        assert t.run(node, "true", timeout_s=20).ok
    finally:
        t.close()
    before = (tmp_path / "known_hosts").read_text()
    lab.rekey_node(6)
    t = _transport(lab, tmp_path)
    try:
        refused = t.run(node, "true", timeout_s=20)
    finally:
        t.close()
    known = tmp_path / "known_hosts"
    assert refused.error is not None and "\n" not in refused.error
    assert refused.error.startswith(
        "opslab-node-6 (10.211.0.16): host key changed: it offers ssh-ed25519 SHA256:"
    )
    assert refused.error.endswith(
        f"forget the old key with: ssh-keygen -f {known} -R '10.211.0.16'"
    )
    assert known.read_text() == before
    # The advice works: forget the key, and the next contact records the new one.
    subprocess.run(["ssh-keygen", "-f", str(known), "-R", "10.211.0.16"], check=True,
                   capture_output=True)  # fmt: skip
    t = _transport(lab, tmp_path)
    try:
        assert t.run(node, "true", timeout_s=20).ok
    finally:
        t.close()


def test_a_wrong_key_is_refused_with_one_line(lab: labs.Lab, tmp_path: Path) -> None:
    stranger = sshd.keygen(tmp_path / "stranger")
    t = _transport(lab, tmp_path, key=stranger)
    try:
        with pytest.raises(AuthFailed) as err:
            t.connect_bastion(20)
    finally:
        t.close()
    assert str(err.value) == (
        f"bastion {labs.BASTION_PUBLIC} (root@{labs.BASTION_PUBLIC}): authentication refused "
        f"for key {stranger}; pass --identity with the private key whose public key the stack "
        "was deployed with"
    )
    # A key the bastion takes and the node does not: the node's own refusal, one line.
    t = _transport(lab, tmp_path, key=lab.bastion_only_key)
    try:
        result = t.run(lab.inventory().nodes[0], "true", timeout_s=20)
    finally:
        t.close()
    assert result.error is not None and "\n" not in result.error
    assert result.error.startswith(
        f"opslab-node-0 (root@10.211.0.10): authentication refused for key {lab.bastion_only_key}"
    )


def test_keys_from_ssh_agent(
    lab: labs.Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        _await_socket(sock, agent)
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run(["ssh-add", str(lab.key)], env=env, check=True, capture_output=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        hosts = KnownHosts(tmp_path / "known_hosts")
        t = SshTransport(lab.inventory(), Credentials(None), hosts, connector=lab.connector())
        try:
            assert t.run(lab.inventory().nodes[1], "echo agent", timeout_s=20).stdout == "agent\n"
        finally:
            t.close()
    finally:
        agent.terminate()
        agent.wait(timeout=5)


def test_a_command_reading_stdin_sees_end_of_file(lab: labs.Lab, tmp_path: Path) -> None:
    t = _transport(lab, tmp_path)
    try:
        result = t.run(lab.inventory().nodes[3], "cat; echo after cat", timeout_s=20)
    finally:
        t.close()
    assert result.ok and result.stdout == "after cat\n"


def test_stream_yields_lines_as_they_come_and_stops_when_closed(
    lab: labs.Lab, tmp_path: Path
) -> None:
    t = _transport(lab, tmp_path)
    node = lab.inventory().nodes[2]
    try:
        assert list(t.stream(node, "for i in 1 2 3; do echo line$i; done")) == [
            "line1", "line2", "line3",
        ]  # fmt: skip
        endless = t.stream(node, "i=0; while true; do i=$((i+1)); echo n$i; sleep 0.05; done")
        assert [next(endless) for _ in range(3)] == ["n1", "n2", "n3"]
        endless.close()  # type: ignore[attr-defined]
        # The connection stays usable after the stream is closed.
        assert t.run(node, "echo after", timeout_s=20).stdout == "after\n"
    finally:
        t.close()


def _await_socket(sock: Path, proc: subprocess.Popen[bytes]) -> None:
    import time

    deadline = time.monotonic() + 10
    while not sock.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "ssh-agent did not start"
        time.sleep(0.02)
