"""The stand-in's "tenancy": one JSON file on disk, so apply, re-plan and destroy (separate
Terraform runs, separate plugin processes) see the same objects.

The file is STANDIN_OCI_STATE when set (the tests set it per stack), else
`.standin-oci-state.json` in the plugin's working directory (Terraform starts the plugin in
the configuration's directory). Terraform runs several operations at once in one plugin process
and may run two plugin processes (the default and the `home` provider): every change is a
read-modify-write under an exclusive flock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATE_ENV = "STANDIN_OCI_STATE"
DEFAULT_STATE_NAME = ".standin-oci-state.json"


def state_path() -> Path:
    return Path(os.environ.get(STATE_ENV) or Path.cwd() / DEFAULT_STATE_NAME)


@dataclass
class Tenancy:
    """The document: objects by OCID plus a few per-tenancy facts."""

    doc: dict[str, Any]

    @property
    def objects(self) -> dict[str, dict[str, Any]]:
        objects: dict[str, dict[str, Any]] = self.doc.setdefault("objects", {})
        return objects

    def put(self, ocid: str, kind: str, values: dict[str, Any], owner: str = "") -> None:
        self.objects[ocid] = {"kind": kind, "values": values, "owner": owner}

    def get(self, ocid: str | None) -> dict[str, Any] | None:
        if not ocid:
            return None
        found = self.objects.get(ocid)
        return None if found is None else dict(found["values"])

    def delete(self, ocid: str) -> None:
        """Remove an object and whatever the service created for it (a pool's instances, a
        mount target's private IP)."""
        self.objects.pop(ocid, None)
        for child in [k for k, v in self.objects.items() if v.get("owner") == ocid]:
            self.delete(child)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [dict(v["values"]) for v in self.objects.values() if v["kind"] == kind]

    def namespace(self) -> str:
        """The tenancy's Object Storage namespace: random, lower-case, fixed once drawn."""
        ns: str = self.doc.setdefault("namespace", "ax" + secrets.token_hex(5))
        return ns

    def allocate_ip(self, subnet_id: str | None) -> str | None:
        """The next free host address in the subnet's CIDR (OCI keeps .0, .1 and the last)."""
        import ipaddress

        subnet = self.get(subnet_id)
        if subnet is None or not subnet.get("cidr_block"):
            return None
        network = ipaddress.ip_network(str(subnet["cidr_block"]), strict=False)
        counters: dict[str, int] = self.doc.setdefault("next_host", {})
        offset = counters.get(str(subnet_id), 2)
        counters[str(subnet_id)] = offset + 1
        return str(network.network_address + offset)


_thread_lock = threading.Lock()


@contextlib.contextmanager
def tenancy(path: Path | None = None) -> Iterator[Tenancy]:
    """The tenancy, locked; written back when the block ends without an error."""
    path = path or state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with _thread_lock, open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            doc = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
            state = Tenancy(doc)
            yield state
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(json.dumps(state.doc, indent=1, sort_keys=True), encoding="utf-8")
            tmp.replace(path)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def read_objects(path: Path) -> dict[str, dict[str, Any]]:
    """What the tenancy holds (for tests: empty after destroy)."""
    if not path.exists():
        return {}
    objects: dict[str, dict[str, Any]] = json.loads(path.read_text(encoding="utf-8")).get(
        "objects", {}
    )
    return objects
