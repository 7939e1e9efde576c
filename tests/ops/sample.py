"""A sample inventory: two replicas of two nodes each, Ray on both, as Terraform would output."""

from __future__ import annotations

from typing import Any

from infra.ops.inventory import Inventory

STACK = "r1-h100"
STEPS = [
    "gpuform-node-env.service", "gpuform-runtime.service", "gpuform-gpu-check.service",
    "gpuform-engine.service", "gpuform-ready.service",
]  # fmt: skip
WORKER_STEPS = STEPS[:-1]


def outputs(nodes: int = 4, *, ray: bool = True) -> dict[str, Any]:
    """`terraform output -json` of a stack with `nodes` nodes, two per replica."""
    listed = []
    for i in range(nodes):
        head = i - i % 2
        role = "head" if i == head else "worker"
        listed.append(
            {
                "index": i, "name": f"{STACK}-node-{i}", "hostname": f"node{i}", "role": role,
                "replica": i // 2, "rank": i % 2, "head": head, "private_ip": f"10.0.16.{10 + i}",
                "ray_role": role if ray else None,
                "steps": STEPS if role == "head" else WORKER_STEPS,
            }
        )  # fmt: skip
    values: dict[str, Any] = {
        "stack": STACK, "nodes": listed, "bastion_public_ip": "203.0.113.7", "ssh_user": "ubuntu",
        "endpoint_url": "http://203.0.113.8:8000/v1",
        "ssh_command": "ssh -J opc@203.0.113.7 ubuntu@10.0.16.10",
    }  # fmt: skip
    kinds = {k: "string" if isinstance(v, str) else ["tuple", []] for k, v in values.items()}
    return {k: {"value": v, "type": kinds[k], "sensitive": False} for k, v in values.items()}


def inventory(nodes: int = 4, *, ray: bool = True) -> Inventory:
    return Inventory.from_outputs(STACK, outputs(nodes, ray=ray))
