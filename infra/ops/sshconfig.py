"""OpenSSH client config for a stack: the bastion and every node, reached with ProxyJump.

`gpuform ssh-config` writes it where ~/.ssh/config can Include it, so plain ssh, scp and rsync
work; `gpuform ssh` runs the system ssh with the same entries (a real TTY, the user's
escape keys and agent forwarding habits), rather than emulate a terminal over paramiko.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from . import paths
from .inventory import Inventory

#: The first line of every config gpuform writes: what it may replace.
HEADER = "# gpuform: stack "
CONNECT_TIMEOUT_S = 20
ALIVE_INTERVAL_S = 15
ALIVE_COUNT_MAX = 3


@dataclass(frozen=True)
class SshConfig:
    """Host entries for one stack; host keys live in the stack's own known_hosts."""

    inventory: Inventory
    known_hosts: Path
    identity: Path | None = None

    @property
    def bastion_alias(self) -> str:
        return f"{self.inventory.stack}-bastion"

    def render(self) -> str:
        """The config text: a bastion entry, then one entry per node."""
        inv = self.inventory
        lines = [
            f"{HEADER}{inv.stack}, from its Terraform outputs.",
            f"# Regenerate with `gpuform ssh-config {inv.stack}` after the stack changes.",
            "",
            f"Host {self.bastion_alias}",
            *self._common(inv.bastion_public_ip, inv.bastion_port, inv.bastion_user),
        ]
        for node in inv.nodes:
            lines += [
                "",
                # A cluster network's pool names its instances itself: no hostname label.
                f"# {node.role}, replica {node.replica}"
                + (f", hostname {node.hostname}" if node.hostname else ""),
                f"Host {node.name}",
                *self._common(node.private_ip, inv.node_port, inv.ssh_user),
                f"  ProxyJump {self.bastion_alias}",
            ]
        return "\n".join(lines) + "\n"

    def write(self, path: Path) -> Path:
        """Write the config (0600, its folder 0700); returns `path`. Never replaces a file
        gpuform did not write (one without its header line): a user's files are theirs."""
        if path.exists() and not _ours(path):
            raise UserError(
                f"{path} exists and gpuform did not write it (its first line is not "
                f"'{HEADER}...'); leaving it as it is. Move it, or write elsewhere (--dir)"
            )
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp.write_text(self.render())
            tmp.chmod(0o600)
            tmp.replace(path)
        except OSError as err:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            why = err.strerror or str(err)
            raise UserError(
                f"{path}: cannot write it ({why}); choose a folder with --dir"
            ) from None
        return path

    def ssh_argv(self, path: Path, alias: str) -> list[str]:
        """The system ssh command that reaches `alias` with the config at `path`."""
        ssh = shutil.which("ssh")
        if ssh is None:
            raise UserError("`ssh` is not on PATH; install the OpenSSH client (openssh-client)")
        return [ssh, "-F", str(path), alias]

    def interactive(self, alias: str) -> int:
        """Run the system ssh to `alias` on this terminal; returns its exit status."""
        # In gpuform's own folder, whatever --known-hosts names: beside /etc/ssh/ssh_known_hosts
        # it would have replaced /etc/ssh/ssh_config.
        path = self.write(paths.stack_dir(self.inventory.stack) / "ssh_config")
        argv = self.ssh_argv(path, alias)
        # ssh owns the terminal: Ctrl-C is ssh's to handle (the remote shell's, once logged
        # in; the end of ssh while it connects), so we do nothing with it. A handler, not
        # SIG_IGN: an ignored signal stays ignored across exec, and ssh then could not be
        # stopped while it waited on a host that never answers; a handler resets to default.
        previous = signal.signal(signal.SIGINT, _ignore)
        try:
            code = subprocess.call(argv)
        finally:
            signal.signal(signal.SIGINT, previous)
        # Killed by a signal (Ctrl-C while connecting): the shell's convention, 128 + signal.
        return 128 - code if code < 0 else code

    def _common(self, host: str, port: int, user: str) -> list[str]:
        entry = [
            f"  HostName {host}",
            f"  User {user}",
            f"  UserKnownHostsFile {_quoted(self.known_hosts)}",
            # New hosts are recorded (as gpuform does); a changed key is refused.
            "  StrictHostKeyChecking accept-new",
            # A host that accepts TCP but never speaks SSH (or a dead link) must not hang ssh:
            # ConnectTimeout bounds the TCP connect and the banner exchange (OpenSSH
            # sshconnect.c passes it to ssh_exchange_identification), ServerAlive* a silent
            # session (3 x 15 s).
            f"  ConnectTimeout {CONNECT_TIMEOUT_S}",
            f"  ServerAliveInterval {ALIVE_INTERVAL_S}",
            f"  ServerAliveCountMax {ALIVE_COUNT_MAX}",
        ]
        if port != 22:
            entry.insert(1, f"  Port {port}")
        if self.identity is not None:
            entry += [f"  IdentityFile {_quoted(self.identity)}", "  IdentitiesOnly yes"]
        return entry


def _ignore(signum: int, frame: object) -> None:
    """SIGINT while ssh runs: ssh has it too, and decides."""


def _ours(path: Path) -> bool:
    try:
        with path.open(errors="replace") as fh:
            return path.is_file() and fh.readline().startswith(HEADER)
    except OSError:
        return False


def include_line(directory: Path) -> str:
    """The line ~/.ssh/config needs (at its top, before any Host) to read the written configs."""
    home = str(Path.home())
    shown = str(directory)
    if shown.startswith(home + os.sep):
        shown = "~" + shown[len(home) :]
    return f"Include {shown}/*.conf"


def _quoted(path: Path) -> str:
    text = str(path.expanduser().resolve())
    return f'"{text}"' if " " in text else text
