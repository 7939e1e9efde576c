"""`gpuform status`: every node probed at once, the endpoint and OCI asked alongside."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from . import cloud
from .endpoint import EndpointState, check
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
    pool = ThreadPoolExecutor(max_workers=2)
    try:
        endpoint = pool.submit(check, url) if (url and check_endpoint) else None
        instances = (
            pool.submit(cloud.instance_states, inventory, oci_profile)
            if oci_profile is not None
            else None
        )
        states = probe_all(transport, inventory)
        return StatusReport(
            inventory,
            states,
            endpoint.result() if endpoint else None,
            instances.result() if instances else cloud.CloudStates(note="not asked"),
        )
    finally:
        # On Ctrl-C, do not wait for OCI's or the endpoint's answer (up to 20 s) to exit.
        pool.shutdown(wait=False, cancel_futures=True)
