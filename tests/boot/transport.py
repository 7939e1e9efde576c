"""The ops Transport for booted harness containers: nsenter into each node, no SSH.

status, logs and wait (infra/ops) are written against infra.ops.transport.Transport; with
this implementation they read the same systemd units on a booted container that they read
over SSH on an OCI node. `inventory` describes a booted stack the way Terraform outputs do.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator, Mapping

from infra.node_plan import plan_nodes
from infra.ops.inventory import Inventory, Node
from infra.ops.transport import LineSink, RunResult, TransportError
from infra.sizing import settings as sizing
from infra.specs import StackSpec

from . import container as ct
from .plan import addresses, booted_stack

#: ct.run's exit status for a command it killed at its deadline (as timeout(1) reports).
TIMED_OUT = 124


class ContainerTransport:
    """Transport to booted containers, keyed by node index."""

    def __init__(self, containers: Mapping[int, ct.Container]) -> None:
        self.containers = dict(containers)

    def run(
        self, node: Node, command: str, *, timeout_s: float, on_line: LineSink | None = None
    ) -> RunResult:
        """Run through bash in the container; lines reach `on_line` once it has ended."""
        c = self.containers.get(node.index)
        if c is None or c.process.poll() is not None:
            return RunResult(None, "", "", f"{node.name}: its container is not running")
        done = ct.run(c, ["bash", "-c", command], timeout_s)
        if done.returncode == TIMED_OUT and done.stderr.startswith("timed out after"):
            return RunResult(None, done.stdout, "", f"{node.name}: {done.stderr}")
        if on_line is not None:
            for line in done.stdout.splitlines():
                on_line("stdout", line)
            for line in done.stderr.splitlines():
                on_line("stderr", line)
        return RunResult(done.returncode, done.stdout, done.stderr)

    def stream(self, node: Node, command: str) -> Iterator[str]:
        """Yield output lines as they come; closing the iterator ends the command."""
        proc = subprocess.Popen(
            self._argv(node, ["bash", "-c", command]), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, errors="replace",
        )  # fmt: skip
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                yield line.rstrip("\n")
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)

    def shell(self, node: Node) -> int:
        """A login shell in the container, on this terminal."""
        return subprocess.call(self._argv(node, ["bash", "-l"]))

    def close(self) -> None:
        """Nothing to close: each call is its own nsenter."""

    def _argv(self, node: Node, argv: list[str]) -> list[str]:
        c = self.containers.get(node.index)
        if c is None:
            raise TransportError(f"{node.name}: no container for node {node.index}")
        return ["nsenter", "-t", str(c.leader), "-a", "--", *argv]


def inventory(stack: StackSpec) -> Inventory:
    """The booted stack as `terraform output -json` would describe it (the `nodes` output)."""
    booted, _ = booted_stack(stack)
    plan = plan_nodes(booted, sizing.resolve(booted))
    ips = addresses(booted, len(plan))
    nodes = [{**n.as_dict(), "private_ip": str(ips[n.index].ip)} for n in plan]
    return Inventory.from_outputs(
        booted.name,
        {"nodes": nodes, "bastion_public_ip": "", "ssh_user": "root", "endpoint_url": None},
    )
