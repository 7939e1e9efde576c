"""`gpuform status`: every node probed at once, the endpoint and OCI asked alongside."""

from __future__ import annotations

from dataclasses import dataclass

from . import cloud
from .endpoint import EndpointState, check
from .fanout import background
from .inventory import Inventory
from .probe import NodeState, probe_all
from .transport import Transport


@dataclass(frozen=True)
class StatusReport:
    """One look at a stack."""

    inventory: Inventory
    states: dict[int, NodeState]
    endpoint: EndpointState | None
    cloud: cloud.CloudStates


def gather(
    transport: Transport,
    inventory: Inventory,
    *,
    check_endpoint: bool = True,
    oci_profile: str | None = "DEFAULT",
) -> StatusReport:
    """Probe the nodes, the endpoint and OCI in parallel."""
    url = inventory.endpoint_url
    # Daemon threads: on Ctrl-C, the exit does not wait for OCI's or the endpoint's answer.
    endpoint = background(lambda: check(url)) if (url and check_endpoint) else None
    instances = (
        background(lambda: cloud.instance_states(inventory, oci_profile))
        if oci_profile is not None
        else None
    )
    states = probe_all(transport, inventory)
    return StatusReport(
        inventory,
        states,
        endpoint() if endpoint else None,
        instances() if instances else cloud.CloudStates(note="not asked"),
    )
