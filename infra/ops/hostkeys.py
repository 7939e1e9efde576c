"""Host keys, explicitly: one known_hosts per stack, trust on first use, a changed key refused.

The file uses OpenSSH's format, so `gpuform ssh-config` points plain ssh at the same file and
both agree on what each node is. A key seen for the first time is recorded and logged; a key
that differs from the recorded one is refused with one line saying how to reset it (a replaced
node legitimately has a new key, a man in the middle too; only the user can tell them apart).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
from pathlib import Path
from typing import Any

import paramiko

from .transport import CannotRecord, HostKeyChanged

log = logging.getLogger("gpuform.ops")


def fingerprint(key: Any) -> str:
    """OpenSSH's SHA256 fingerprint of a paramiko key."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def entry_name(host: str, port: int) -> str:
    """The name OpenSSH files a host under: bare on port 22, `[host]:port` elsewhere."""
    return host if port == 22 else f"[{host}]:{port}"


class KnownHosts:
    """A stack's known_hosts file; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._keys = paramiko.HostKeys()
        self._reload()

    def key_types(self, host: str, port: int) -> list[str]:
        """Key types recorded for the host, to ask the server for those first (as ssh does)."""
        with self._lock:
            found = self._keys.lookup(entry_name(host, port))
            return list(found.keys()) if found else []

    def verify(self, label: str, host: str, port: int, key: Any) -> None:
        """Accept a recorded key, record a new host's key, refuse a changed one."""
        name = entry_name(host, port)
        with self._lock:
            if self._keys.lookup(name) is None:
                # Another process (plain ssh through ssh-config) may have recorded it meanwhile.
                self._reload()
            known = self._keys.lookup(name)
            if known is None:
                self._record(name, key)
                log.info(
                    "first contact with %s (%s): recorded its %s key %s in %s",
                    label, name, key.get_name(), fingerprint(key), self.path,
                )  # fmt: skip
                return
            if known.get(key.get_name()) == key:
                return
        raise HostKeyChanged(
            f"{label} ({name}): host key changed: it offers {key.get_name()} {fingerprint(key)}, "
            f"not the key recorded in {self.path}; refusing to connect. If the host was replaced, "
            f"forget the old key with: ssh-keygen -f {self.path} -R '{name}'"
        )

    def _reload(self) -> None:
        self._keys = paramiko.HostKeys()
        if self.path.is_file():
            self._keys.load(str(self.path))

    def _record(self, name: str, key: Any) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Appended, not rewritten: plain ssh may share the file, its lines stay as they are.
            with self.path.open("a") as fh:
                fh.write(f"{name} {key.get_name()} {key.get_base64()}\n")
        except OSError as err:
            raise CannotRecord(
                f"{name}: cannot record its host key in {self.path} ({err.strerror or err}); "
                "pass --known-hosts with a file in a folder you can write"
            ) from None
        self._keys.add(name, key.get_name(), key)
