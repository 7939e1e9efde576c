"""Boot every node of a stack at once, each in its own container, and collect what it did.

For each node: a private network namespace with its own IMDS stand-in, an overlay copy of the
cached rootfs seeded with the node's user-data and meta-data, and `systemd-nspawn -b`. Every
resource is registered on an ExitStack as soon as it exists, so containers are halted, IMDS
processes killed, overlays unmounted and namespaces deleted on every path out, failures and
Ctrl-C included.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from infra.specs import AnyStack
from tests.nodecov import boot as nodecov_boot

from . import container as ct
from . import firewall, network, rootfs
from . import plan as plan_mod
from .collect import NodeReport, collect, wait_cloud_init, wait_settled
from .objectstore import object_file
from .overlay import overlay
from .plan import NodePlan, plan_stack

REPO = Path(__file__).resolve().parents[2]
SEED_DIR = "var/lib/cloud/seed/nocloud"
_RUNS = itertools.count()


class Bridge(Protocol):
    """A service on the stack's private network, in the harness's switch namespace (and
    nowhere else), plus files it puts into each node's root before boot."""

    @property
    def weights_url(self) -> str: ...

    def serve(self, switch_netns: str) -> AbstractContextManager[object]: ...

    def seed(self, root: Path) -> None: ...


@dataclass(frozen=True)
class Limits:
    """Hard bounds, in seconds, on each phase of a boot."""

    start: float = 30
    imds_start: float = 15
    cloud_init: float = 300
    settle: float = 90
    halt: float = 20


def boot_stack(
    stack: AnyStack,
    limits: Limits = Limits(),
    while_up: Callable[[dict[int, ct.Container]], None] | None = None,
    bridge: Bridge | None = None,
    only: Collection[int] | None = None,
    roster: Callable[[str], str] | None = None,
    tamper: Callable[[bytes], bytes] | None = None,
    store: str = "",
) -> list[NodeReport]:
    """Boot all nodes of `stack` together (workers need their head) and report on each.

    `only` boots just those node indexes (each still gets the metadata the full stack gives it).

    `while_up` runs once every node has been observed and before any is halted, with the
    running containers by node index: for tests that act across live nodes. `bridge` serves
    something on the private network's switch and may seed files into each node's root.

    Every node's bundle is in the Object Storage stand-in before any node boots, as
    Terraform uploads it before it launches the instances; `tamper` may change each object's
    bytes first (one byte, say), and `store` points the nodes' bundle URLs elsewhere (a bucket
    that cannot be reached). A cluster network's roster is published once every node has
    started, as Terraform writes it once the pool runs; `roster` may rewrite it first (a stale
    roster, say).
    """
    plans = [
        p
        for p in plan_stack(stack, bridge.weights_url if bridge else "", store)
        if only is None or p.index in only
    ]
    base = rootfs.ensure_rootfs()
    network.remove_stale()
    run_id = f"{os.getpid()}-{next(_RUNS)}"
    reports = [NodeReport(plan) for plan in plans]
    with ExitStack() as stack_ctx:
        logs = Path(tempfile.mkdtemp(prefix=f"gpuform-boot-{run_id}-logs-", dir="/var/tmp"))
        stack_ctx.callback(shutil.rmtree, logs, True)
        net = network.create(run_id, [p.address for p in plans])
        stack_ctx.callback(network.destroy, net)
        if bridge is not None:
            stack_ctx.enter_context(bridge.serve(net.switch))
        objects = logs / "objects"
        objects.mkdir()
        for path, body in {o for p in plans for o in p.objects}:
            object_file(objects, path).write_bytes(tamper(body) if tamper else body)
        roster_file = object_file(objects, plan_mod.roster_object_path(stack))
        if plans:
            stack_ctx.enter_context(_object_store(net.switch, stack, objects, logs, limits))
        booted: list[tuple[NodeReport, ct.Container | None, Path, Path, Path]] = []
        for plan, report, node_net in zip(plans, reports, net.nodes, strict=True):
            started = time.monotonic()
            node_logs = logs / f"node{plan.index}"
            node_logs.mkdir()
            stack_ctx.enter_context(_imds(node_net.netns, plan, node_logs, limits.imds_start))
            copy = stack_ctx.enter_context(overlay(base.path, f"{run_id}-n{plan.index}"))
            _seed(copy.root, plan)
            # `make node-coverage` only: trace the node's scripts; copied out after the halt.
            nodecov_boot.seed(copy.root)
            stack_ctx.callback(nodecov_boot.collect, copy.root, f"{run_id}-n{plan.index}")
            if bridge is not None:
                bridge.seed(copy.root)
            try:
                c = ct.start(
                    name=f"gpuform-{run_id}-n{plan.index}",
                    root=copy.root,
                    netns=node_net.path,
                    hostname=plan.hostname,
                    console_log=node_logs / "console.log",
                    timeout_s=limits.start,
                )
            except ct.BootError as err:
                report.boot_error = str(err)
                booted.append((report, None, copy.root, copy.upper, node_logs))
                continue
            # Registered last, so it runs first: halt before the overlay and netns go away.
            stack_ctx.callback(_halt, c, report, limits.halt)
            report.seconds["start"] = time.monotonic() - started
            booted.append((report, c, copy.root, copy.upper, node_logs))
        if plans and plans[0].roster:
            live = [r.plan for r, c, *_ in booted if c is not None]
            _await_roster_polls(logs / "store-requests.log", live, limits.cloud_init)
            text = roster(plans[0].roster) if roster else plans[0].roster
            tmp = roster_file.with_suffix(".tmp")
            tmp.write_text(text)
            tmp.rename(roster_file)  # whole, never half-written, as an object PUT is
        for report, running, root, upper, node_logs in booted:
            if running is not None:
                _observe(running, report, root, upper, limits)
            report.imds_requests = _lines(node_logs / "imds-requests.log")
            mine = [
                line.split(" ", 1)[1]
                for line in _lines(logs / "store-requests.log")
                if line.split(" ", 1)[0] == str(report.plan.address.ip)
            ]
            report.roster_requests = [r for r in mine if "/o/roster " in r]
            report.bundle_requests = [r for r in mine if "/o/bundle-" in r]
            report.console_tail = "\n".join(_lines(node_logs / "console.log")[-40:])
        _probe_firewalls(net, booted)
        if while_up is not None:
            while_up({r.plan.index: c for r, c, *_ in booted if c is not None})
    return reports


def _probe_firewalls(
    net: network.PrivateNetwork,
    booted: list[tuple[NodeReport, ct.Container | None, Path, Path, Path]],
) -> None:
    """Knock on every settled node's ports from the bridge, inside and outside the VCN."""
    live = [(r, c) for r, c, *_ in booted if c is not None]
    if not live:
        return
    peer = firewall.add_peer(net, live[0][0].plan.address)
    for report, c in live:
        t0 = time.monotonic()
        report.firewall, report.firewall_saved = firewall.probe_node(
            c, peer, report.plan.address, report.plan.served_ports
        )
        report.seconds["firewall"] = time.monotonic() - t0


def _observe(c: ct.Container, report: NodeReport, root: Path, upper: Path, limits: Limits) -> None:
    t0 = time.monotonic()
    wait_cloud_init(c, report, limits.cloud_init)
    t1 = time.monotonic()
    report.settled = wait_settled(c, report.plan.units, limits.settle)
    t2 = time.monotonic()
    collect(c, report, root, upper)
    report.seconds.update(cloud_init=t1 - t0, settle=t2 - t1, collect=time.monotonic() - t2)


def _halt(c: ct.Container, report: NodeReport, timeout_s: float) -> None:
    t0 = time.monotonic()
    report.halted_cleanly = ct.halt(c, timeout_s)
    report.seconds["halt"] = time.monotonic() - t0


def _seed(root: Path, plan: NodePlan) -> None:
    seed = root / SEED_DIR
    seed.mkdir(parents=True, exist_ok=True)
    (seed / "user-data").write_bytes(plan.user_data)  # gzip, as OCI ships it
    (seed / "meta-data").write_text(plan.meta_data)


@contextmanager
def _imds(netns: str, plan: NodePlan, logs: Path, timeout_s: float) -> Iterator[None]:
    """Run the IMDS stand-in inside `netns` for the duration of the block."""
    doc, ready, log = logs / "imds.json", logs / "imds.ready", logs / "imds-requests.log"
    doc.write_text(json.dumps(plan.document))
    vnics = logs / "imds-vnics.json"
    vnics.write_text(json.dumps(plan.vnics))
    err = logs / "imds.stderr"
    with err.open("wb") as err_fh:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", netns, sys.executable, "-m", "tests.boot.imds",
             "--document", str(doc), "--vnics", str(vnics), "--log", str(log),
             "--ready", str(ready)],
            cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err_fh,
        )  # fmt: skip
    try:
        _wait_ready(proc, ready, err, timeout_s, f"IMDS stand-in in {netns}")
        yield
    finally:
        _stop(proc)


@contextmanager
def _object_store(
    switch_netns: str, stack: AnyStack, directory: Path, logs: Path, limits: Limits
) -> Iterator[None]:
    """The Object Storage stand-in (tests/boot/objectstore.py) on the switch: the bundles'
    and the roster's PARs; the roster is 404 until published."""
    address = plan_mod.store_address(stack)
    network.add_address(switch_netns, address)
    ready, err = logs / "store.ready", logs / "store.stderr"
    with err.open("wb") as err_fh:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", switch_netns, sys.executable, "-m", "tests.boot.objectstore",
             "--address", str(address.ip), "--port", str(plan_mod.STORE_PORT),
             "--dir", str(directory), "--log", str(logs / "store-requests.log"),
             "--ready", str(ready)],
            cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err_fh,
        )  # fmt: skip
    try:
        _wait_ready(
            proc, ready, err, limits.imds_start, f"Object Storage stand-in in {switch_netns}"
        )
        yield
    finally:
        _stop(proc)


def _await_roster_polls(log: Path, plans: list[NodePlan], timeout_s: float) -> None:
    """Hold the roster back until every started node has asked for it and been told 404, as
    Terraform writes it only once the whole pool runs: each node must wait for it."""
    deadline = time.monotonic() + timeout_s
    want = {str(p.address.ip) for p in plans}
    while time.monotonic() < deadline:
        asked = {line.split(" ", 1)[0] for line in _lines(log) if line.endswith("/o/roster 404")}
        if want <= asked:
            return
        time.sleep(0.2)


def _wait_ready(
    proc: subprocess.Popen[bytes], ready: Path, err: Path, timeout_s: float, what: str
) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() >= deadline:
            raise RuntimeError(f"{what} did not start: {err.read_text(errors='replace')}")
        time.sleep(0.05)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _lines(path: Path) -> list[str]:
    return path.read_text(errors="replace").splitlines() if path.is_file() else []
