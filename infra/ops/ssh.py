"""The SSH transport: paramiko to the bastion, and on to each node over a direct-tcpip channel.

One connection to the bastion serves every node (OpenSSH's ProxyJump opens one per node), and
each node's connection is kept for the transport's life, so `wait` polls without new
handshakes. Every call has one deadline that bounds the whole of it: bastion, node, command.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import paramiko

from . import channel, remote
from .hostkeys import KnownHosts
from .inventory import Inventory, Node
from .keys import Credentials
from .sshconfig import SshConfig
from .transport import AuthFailed, LineSink, RunResult, TransportError, Unreachable

#: Opens the TCP connection to the bastion; tests swap it to reach into a network namespace.
Connector = Callable[[str, int, float], socket.socket]
KEEPALIVE_S = 30
#: How long `stream` may take to reach the node; the stream itself runs until it ends.
STREAM_CONNECT_S = 60.0


def tcp_connect(host: str, port: int, timeout_s: float) -> socket.socket:
    """A plain TCP connection (the default Connector)."""
    sock = socket.create_connection((host, port), timeout=timeout_s)
    # Commands and their exit status are small messages: do not let Nagle hold them back.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


@dataclass(frozen=True)
class Hop:
    """One SSH server on the way: how to name it in messages, where it is, who logs in."""

    label: str
    host: str
    port: int
    user: str


class SshTransport:
    """Transport over SSH through the stack's bastion; thread-safe."""

    def __init__(
        self,
        inventory: Inventory,
        credentials: Credentials,
        known_hosts: KnownHosts,
        *,
        connector: Connector = tcp_connect,
        ssh_config: SshConfig | None = None,
    ) -> None:
        self.inventory = inventory
        self.credentials = credentials
        self.known_hosts = known_hosts
        self._connect = connector
        self._ssh_config = ssh_config
        inv = inventory
        self._bastion_hop = Hop(
            f"bastion {inv.bastion_public_ip}", inv.bastion_public_ip, inv.bastion_port,
            inv.bastion_user,
        )  # fmt: skip
        self._bastion: Any = None
        self._bastion_lock = threading.Lock()
        self._nodes: dict[int, Any] = {}
        self._node_locks = {n.index: threading.Lock() for n in inventory.nodes}

    def run(
        self, node: Node, command: str, *, timeout_s: float, on_line: LineSink | None = None
    ) -> RunResult:
        """Run `command` on `node`; every failure comes back as RunResult.error."""
        deadline = time.monotonic() + timeout_s
        try:
            chan = self._session(node, deadline)
        except TransportError as err:
            return RunResult(None, "", "", str(err), user_must_fix=err.user_must_fix)
        try:
            # The channel's stdin stays open until we close it: closing it (done, timed out,
            # Ctrl-C, a lost link) stops the command there. The command reads /dev/null.
            chan.exec_command(remote.stoppable(command))
            got = channel.collect(chan, deadline, on_line)
        except (paramiko.SSHException, OSError, EOFError) as err:
            self._drop(node)
            why = str(err) or type(err).__name__
            return RunResult(None, "", "", f"{node.name}: connection lost: {why}")
        finally:
            chan.close()
        if got.timed_out:
            why = f"{node.name}: timed out after {timeout_s:g}s; stopped the command there"
            return RunResult(None, got.stdout, got.stderr, why)
        if got.exit_code is None or got.exit_code < 0:
            why = f"{node.name}: the command ended without an exit status (killed by a signal?)"
            return RunResult(None, got.stdout, got.stderr, why)
        return RunResult(got.exit_code, got.stdout, got.stderr)

    def stream(self, node: Node, command: str) -> Iterator[str]:
        """Yield output lines (stdout and stderr merged) until the command ends."""
        chan = self._session(node, time.monotonic() + STREAM_CONNECT_S)
        try:
            # A PTY makes sshd hang up the command when we close the channel (journalctl -f).
            chan.get_pty(width=500)
            chan.exec_command(command)
            with chan.makefile("rb") as fh:
                for raw in fh:
                    yield raw.decode(errors="replace").rstrip("\r\n")
        except (paramiko.SSHException, OSError, EOFError) as err:
            self._drop(node)
            why = str(err) or type(err).__name__
            raise Unreachable(f"{node.name}: connection lost: {why}") from None
        finally:
            chan.close()

    def shell(self, node: Node) -> int:
        """An interactive shell through plain ssh (a real TTY), with the stack's ssh config."""
        if self._ssh_config is None:
            raise TransportError("no ssh config for an interactive shell")
        return self._ssh_config.interactive(node.name)

    def connect_bastion(self, timeout_s: float) -> None:
        """Reach the bastion now, so a problem there is told once rather than once per node."""
        self._bastion_transport(time.monotonic() + timeout_s)

    def close(self) -> None:
        """Close every node connection, then the bastion's."""
        for index in list(self._nodes):
            self._drop_index(index)
        with self._bastion_lock:
            if self._bastion is not None:
                self._bastion.close()
                self._bastion = None

    def _session(self, node: Node, deadline: float) -> Any:
        hop = Hop(node.name, node.private_ip, self.inventory.node_port, self.inventory.ssh_user)
        t = self._node_transport(node, hop, deadline)
        try:
            return t.open_session(timeout=_remaining(deadline, hop))
        except (paramiko.SSHException, OSError, EOFError) as err:
            self._drop(node)
            raise Unreachable(f"{hop.label}: cannot open a session: {err}") from None

    def _node_transport(self, node: Node, hop: Hop, deadline: float) -> Any:
        lock = self._node_locks[node.index]
        if not lock.acquire(timeout=_remaining(deadline, hop)):
            raise Unreachable(f"{hop.label}: timed out waiting for another call to connect")
        try:
            t = self._nodes.get(node.index)
            if t is not None and t.is_active():
                return t
            bastion = self._bastion_transport(deadline)
            try:
                chan = bastion.open_channel(
                    "direct-tcpip", (hop.host, hop.port), ("127.0.0.1", 0),
                    timeout=_remaining(deadline, hop),
                )  # fmt: skip
            except paramiko.ChannelException as err:
                raise Unreachable(f"{hop.label} ({hop.host}): {_open_failure(err)}") from None
            except (paramiko.SSHException, OSError, EOFError) as err:
                why = f"{hop.label} ({hop.host}): no channel via the bastion: {err}"
                raise Unreachable(why) from None
            self._nodes[node.index] = self._handshake(chan, hop, deadline)
            return self._nodes[node.index]
        finally:
            lock.release()

    def _bastion_transport(self, deadline: float) -> Any:
        hop = self._bastion_hop
        if not self._bastion_lock.acquire(timeout=_remaining(deadline, hop)):
            raise Unreachable(f"{hop.label}: timed out waiting for the bastion connection")
        try:
            if self._bastion is not None and self._bastion.is_active():
                return self._bastion
            try:
                sock = self._connect(hop.host, hop.port, _remaining(deadline, hop))
            except TimeoutError:
                raise Unreachable(f"{hop.label}:{hop.port}: no answer (timed out)") from None
            except OSError as err:
                raise Unreachable(f"{hop.label}:{hop.port}: {err.strerror or err}") from None
            self._bastion = self._handshake(sock, hop, deadline)
            self._bastion.set_keepalive(KEEPALIVE_S)
            return self._bastion
        finally:
            self._bastion_lock.release()

    def _handshake(self, sock: Any, hop: Hop, deadline: float) -> Any:
        """SSH over `sock`: key exchange, host key check, public key auth; closes on failure."""
        t = paramiko.Transport(sock)
        try:
            _prefer_known(t, self.known_hosts.key_types(hop.host, hop.port))
            left = _remaining(deadline, hop)
            t.banner_timeout = t.handshake_timeout = t.auth_timeout = left
            t.start_client(timeout=left)
            if t.host_key is None:  # start_client returns quietly when its timeout passes
                raise Unreachable(f"{hop.label} ({hop.host}): {_stalled(t)}")
            self.known_hosts.verify(hop.label, hop.host, hop.port, t.get_remote_server_key())
            self._authenticate(t, hop)
            return t
        except TransportError:
            t.close()
            raise
        except (paramiko.SSHException, OSError, EOFError) as err:
            # paramiko's own thread holds the real cause; start_client only says it failed.
            cause = t.get_exception() or err
            t.close()
            raise Unreachable(f"{hop.label} ({hop.host}): {_why(cause)}") from None
        except BaseException:
            t.close()
            raise

    def _authenticate(self, t: Any, hop: Hop) -> None:
        for key in self.credentials.offered():
            with suppress(paramiko.AuthenticationException):
                t.auth_publickey(hop.user, key)
                if t.is_authenticated():
                    return
        raise AuthFailed(
            f"{hop.label} ({hop.user}@{hop.host}): authentication refused for "
            f"{self.credentials.describe()}; pass --identity with the private key whose public "
            "key the stack was deployed with"
        )

    def _drop(self, node: Node) -> None:
        self._drop_index(node.index)

    def _drop_index(self, index: int) -> None:
        t = self._nodes.pop(index, None)
        if t is not None:
            t.close()


def _open_failure(err: Any) -> str:
    # paramiko keeps only the code of the bastion's answer, not its text.
    if err.code == 2:
        return "the bastion cannot connect to it (host down, or no sshd listening)"
    if err.code == 1:
        return "the bastion refuses to forward (AllowTcpForwarding off?)"
    return f"the bastion cannot open a channel to it: {err.text}"


def _stalled(t: Any) -> str:
    if not t.remote_version:
        return "no SSH banner in time: the port accepts connections but no SSH server answers"
    return "timed out during the SSH key exchange"


def _why(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    if "protocol banner" in text:
        return "no SSH banner in time: the port accepts connections but no SSH server answers"
    return f"no SSH session: {text}"


def _remaining(deadline: float, hop: Hop) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise Unreachable(f"{hop.label} ({hop.host}): timed out while connecting")
    return left


def _prefer_known(t: Any, known: list[str]) -> None:
    """Ask for the recorded key types first, as OpenSSH does, so a known host verifies."""
    if not known:
        return
    wanted = [a for k in known for a in (_RSA if k == "ssh-rsa" else (k,))]
    opts = t.get_security_options()
    offered = list(opts.key_types)
    opts.key_types = [k for k in wanted if k in offered] + [k for k in offered if k not in wanted]


_RSA = ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")
