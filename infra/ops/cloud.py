"""Instance state from OCI's API, where the user has credentials; quietly nothing otherwise."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .inventory import Inventory

TIMEOUT_S = (5.0, 15.0)
"""(connect, read) for OCI calls: status must not hang on the control plane."""


@dataclass(frozen=True)
class CloudStates:
    """Node index -> lifecycle state (RUNNING, STOPPED, ...), or a note why there are none."""

    states: dict[int, str] = field(default_factory=dict)
    note: str = ""


def config_path() -> Path:
    """Where the oci SDK (and the OCI CLI) read credentials."""
    return Path(os.environ.get("OCI_CONFIG_FILE") or Path.home() / ".oci" / "config")


def instance_states(inventory: Inventory, profile: str = "DEFAULT") -> CloudStates:
    """Ask OCI for each node's instance state; never raises, since status is best effort."""
    path = config_path()
    if not path.is_file():
        return CloudStates(note="no OCI credentials")
    ids = {n.index: n.instance_id for n in inventory.nodes if n.instance_id}
    if not ids:
        return CloudStates(note="the stack's outputs carry no instance ids")
    try:
        client = _client(path, profile, inventory.region)
    # The SDK raises its own types for bad files, profiles and keys; any of them means "no
    # instance state", told in one line, never a traceback in the middle of a status table.
    except Exception as err:
        return CloudStates(note=f"OCI config {path} [{profile}]: {err}")
    states: dict[int, str] = {}
    for index, ocid in ids.items():
        try:
            states[index] = str(client.get_instance(ocid).data.lifecycle_state)
        except Exception as err:
            states[index] = f"? ({getattr(err, 'message', None) or type(err).__name__})"
    return CloudStates(states=states)


def _client(path: Path, profile: str, region: str | None) -> Any:
    import oci  # 1-2 s to import: only when there are credentials to use

    config = oci.config.from_file(str(path), profile)
    if region:
        config["region"] = region
    oci.config.validate_config(config)
    return oci.core.ComputeClient(config, timeout=TIMEOUT_S)
