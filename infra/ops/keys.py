"""The keys we log in with: the stack's private key file (--identity), then the user's ssh-agent."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import paramiko

from ..errors import UserError
from .files import check_regular


class Credentials:
    """Where keys come from; loaded once, on first use, and shared by every connection."""

    def __init__(self, identity: Path | None = None, *, use_agent: bool = True) -> None:
        self.identity = identity
        self.use_agent = use_agent
        self._lock = threading.Lock()
        self._keys: list[Any] | None = None
        self._agent_count: int | None = None
        """Keys the agent offered; None when no agent was asked (none running, or not wanted)."""

    def offered(self) -> list[Any]:
        """Keys to offer, the identity file first; UserError when there is none to offer."""
        with self._lock:
            if self._keys is None:
                self._keys = self._load()
            return self._keys

    def describe(self) -> str:
        """Which keys were offered, for an authentication failure's message."""
        parts = [f"key {self.identity}"] if self.identity else []
        if self._agent_count is not None:
            parts.append(f"{self._agent_count} ssh-agent key(s)")
        return " and ".join(parts)

    def _load(self) -> list[Any]:
        found: list[Any] = []
        if self.identity is not None:
            found.append(_load_file(self.identity))
        if self.use_agent and os.environ.get("SSH_AUTH_SOCK"):
            agent = list(paramiko.Agent().get_keys())
            self._agent_count = len(agent)
            found.extend(agent)
        if not found:
            raise UserError(
                "no SSH key to offer: pass --identity with the stack's private key, or load it "
                "into ssh-agent (ssh-add)"
            )
        return found


def _load_file(path: Path) -> Any:
    check_regular(path, "--identity", 1 << 20)
    try:
        return paramiko.PKey.from_path(str(path))
    except FileNotFoundError:
        raise UserError(f"--identity = {str(path)!r}: no such file") from None
    except paramiko.PasswordRequiredException:
        raise UserError(
            f"--identity = {str(path)!r}: the key is passphrase-protected; load it into "
            f"ssh-agent (ssh-add {path}) and leave out --identity"
        ) from None
    except (paramiko.SSHException, OSError, ValueError) as err:
        raise UserError(
            f"--identity = {str(path)!r}: not a private key paramiko can read ({err})"
        ) from None
