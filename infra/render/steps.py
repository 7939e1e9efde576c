"""The step registry: every bootstrap step declared once, and what is derived from it.

A step is one systemd unit plus its scripts. Its declaration says when a node gets it, which
steps it requires (their failure keeps it from starting), wants (best effort) and orders
after, what it needs from the world (GPUs, the internet, a secret, local NVMe, ...) and which
parts of the node context its templates read. The node's files, the units' dependency lines,
gpuform.target and the boot harness's expectations are all computed from these declarations:
adding a step is one declaration here plus its templates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from .context import NodeContext, Part

Need = Literal["gpu", "internet", "nvme", "secret", "engine", "rdma", "volume", "nfs"]
"""What a step needs beyond the node itself: without it, it fails with one line saying so."""

TARGET = "gpuform.target"
"""Wants every step: starting it queues all of them in one systemd transaction, so a step that
fails fast is not pulled in again by a later unit's Requires= (and does not run twice)."""


def _always(_: NodeContext) -> bool:
    return True


@dataclass(frozen=True)
class Step:
    """One bootstrap step: a unit `gpuform-<name>.service` and its scripts."""

    name: str
    scripts: tuple[str, ...]
    reads: tuple[Part, ...]
    """The context parts its unit and scripts are rendered with (and nothing else)."""
    requires: tuple[str, ...] = ()
    """Steps that must succeed first; systemd then logs "Dependency failed" instead of a run."""
    wants: tuple[str, ...] = ()
    """Steps to run first when the node has them, whose failure does not stop this one."""
    system_wants: tuple[str, ...] = ()
    """System units it wants and orders after (network-online.target)."""
    system_after: tuple[str, ...] = ()
    """System units it only orders after."""
    needs: frozenset[Need] = frozenset()
    missing_words: tuple[str, ...] = ()
    """Words its failure line uses to name what is missing (the boot harness checks them)."""
    when: Callable[[NodeContext], bool] = _always

    @property
    def unit(self) -> str:
        return f"gpuform-{self.name}.service"


_NET = ("network-online.target",)

#: Every step, in the order a node's cloud-config lists them.
STEPS: tuple[Step, ...] = (
    Step(
        "node-env",
        ("node-env",),
        reads=("paths", "limits", "metadata"),
        system_wants=_NET,
    ),
    Step(
        # The root filesystem stays at the image's size until grown; images and caches land there.
        "growfs",
        ("growfs",),
        reads=("host", "paths"),
        system_after=("local-fs.target",),
    ),
    Step(
        # Opens what the node serves, to the VCN: platform images reject all but TCP 22. After
        # the image's own rules load; the runtime, and so the engine and Ray, start after it.
        "firewall",
        ("firewall",),
        reads=("host", "paths", "firewall"),
        system_after=("firewalld.service", "netfilter-persistent.service"),
        when=lambda c: c.firewall is not None,
    ),
    Step(
        "runtime",
        ("runtime",),
        reads=("host", "paths"),
        # Docker's data root goes on local NVMe when there is some, so the array comes first;
        # the firewall first too, so the rules it saves hold none of docker's own chains.
        wants=("growfs", "firewall", "localdisk"),
        system_wants=_NET,
        needs=frozenset({"internet"}),
        missing_words=("internet",),
    ),
    Step(
        "gpu-check",
        ("gpu-check",),
        reads=("host", "paths"),
        # NVSwitch shapes: CUDA starts only once the fabric manager runs (checked, not started).
        system_after=("systemd-modules-load.service", "nvidia-fabricmanager.service"),
        needs=frozenset({"gpu"}),
        missing_words=("GPU",),
    ),
    Step(
        "localdisk",
        ("localdisk",),
        reads=("host", "paths"),
        system_after=("local-fs.target",),
        needs=frozenset({"nvme"}),
        missing_words=("NVMe",),
        when=lambda c: c.host.nvme_drives > 0,
    ),
    Step(
        # The one way a node gets an OCI client: every step that reads OCI by instance principal
        # requires this one, so no two of them install into one path at once, and none starts
        # before the client is there (Oracle Linux: the distribution's packaged CLI and SDK;
        # Ubuntu: one venv whose pip is upgraded first).
        "oci-client",
        ("oci-client",),
        reads=("host", "paths"),
        system_wants=_NET,
        needs=frozenset({"internet"}),
        missing_words=("internet",),
        when=lambda c: (
            c.api_key is not None
            or c.hub_token is not None
            or (c.weights is not None and c.weights.instance_principal)
        ),
    ),
    Step(
        "api-key",
        ("api-key",),
        reads=("host", "paths", "limits", "api_key"),
        requires=("node-env", "oci-client"),
        system_wants=_NET,
        needs=frozenset({"internet", "secret"}),
        missing_words=("internet",),
        when=lambda c: c.api_key is not None,
    ),
    Step(
        # A private or gated hub repo: the token the weights pull sends, fetched as the API key
        # is (instance principal, bounded retry while IAM catches up).
        "hub-token",
        ("hub-token",),
        reads=("host", "paths", "limits", "hub_token"),
        requires=("node-env", "oci-client"),
        system_wants=_NET,
        needs=frozenset({"internet", "secret"}),
        missing_words=("internet",),
        when=lambda c: c.hub_token is not None,
    ),
    # The engine Requires= this step, not Wants=: a stack that asks for shared storage keeps
    # checkpoints, datasets or weights there. Started without the mount, a workload would write
    # into the bare directory on the boot volume, which a later mount hides, and nodes would
    # drift apart silently; "Dependency failed" and this step's one line say what is wrong.
    Step(
        "shared-fs",
        ("shared-fs",),
        reads=("host", "paths", "storage"),
        # The mount target's IP arrives as instance metadata, in node.env.
        requires=("node-env",),
        system_wants=_NET,
        needs=frozenset({"internet", "nfs"}),
        missing_words=("File Storage",),
        when=lambda c: c.storage is not None,
    ),
    Step(
        "rdma",
        ("rdma",),
        reads=("host", "paths", "rdma"),
        # The agent's RDMA Auto-Configuration plugin brings the devices up after boot.
        system_wants=_NET,
        needs=frozenset({"rdma"}),
        missing_words=("RDMA",),
        when=lambda c: c.rdma is not None,
    ),
    Step(
        "ray",
        ("ray-run", "ray"),
        reads=("node", "host", "paths", "limits", "rdma", "ray", "storage", "weights"),
        # Without its RDMA devices NCCL would fall back to TCP silently: require them. A vLLM
        # pipeline's workers load their stages from the verified local weights, as the head does.
        requires=("node-env", "runtime", "gpu-check", "rdma", "shared-fs", "weights"),
        wants=("localdisk", "firewall"),
        system_wants=_NET,
        system_after=("docker.service",),
        needs=frozenset({"gpu", "internet"}),
        missing_words=("image", "GPU", "docker"),
        when=lambda c: c.ray is not None,
    ),
    Step(
        "torchrun-env",
        ("torchrun-env",),
        reads=("node", "paths", "torchrun"),
        requires=("node-env",),
        when=lambda c: c.torchrun is not None,
    ),
    Step(
        "weights-volume",
        ("weights-volume",),
        reads=("paths", "weights"),
        # Attached after launch; OCI's agent logs in to its iSCSI target (docs/weights.md).
        system_wants=_NET,
        system_after=("local-fs.target",),
        needs=frozenset({"volume"}),
        missing_words=("block volume",),
        when=lambda c: c.weights is not None and c.weights.volume is not None,
    ),
    Step(
        "weights",
        ("weights", "weights-fetch.py"),
        reads=("host", "paths", "weights", "hub_token"),
        requires=("node-env", "weights-volume", "hub-token", "oci-client"),
        # Without local NVMe (and without a volume) the cache stays on the boot volume.
        wants=("localdisk",),
        system_wants=_NET,
        needs=frozenset({"internet"}),
        missing_words=("internet", "bucket", "verification"),
        when=lambda c: c.weights is not None,
    ),
    Step(
        "engine",
        ("engine-pull", "engine-run", "engine-stopped", "entry"),
        # The engine serves only weights the `weights` step verified (docs/weights.md).
        reads=(
            "node",
            "host",
            "paths",
            "limits",
            "engine",
            "api_key",
            "rdma",
            "ray",
            "weights",
            "storage",
        ),
        requires=(
            "node-env",
            "runtime",
            "gpu-check",
            "api-key",
            "rdma",
            "ray",
            "weights",
            "shared-fs",
        ),
        # Without local NVMe the cache stays on the boot volume.
        wants=("localdisk", "firewall"),
        system_wants=_NET,
        system_after=("docker.service",),
        needs=frozenset({"gpu", "internet"}),
        missing_words=("image", "GPU", "docker"),
        # A vLLM pipeline's workers only lend their GPUs to the head's Ray cluster.
        when=lambda c: c.engine is not None and bool(c.engine.command.argv),
    ),
    Step(
        "model-pull",
        ("model-pull",),
        reads=("paths", "limits", "engine"),
        requires=("engine",),
        needs=frozenset({"internet"}),
        missing_words=("pull", "engine"),
        when=lambda c: c.engine is not None and c.engine.pull is not None,
    ),
    Step(
        "ready",
        ("ready",),
        reads=("paths", "limits", "engine", "api_key"),
        # Ready means the load balancer can reach it too: ready.sh probes 127.0.0.1, which the
        # host firewall never blocks, so a node whose firewall step failed is not ready.
        requires=("engine", "model-pull", "firewall"),
        needs=frozenset({"engine"}),
        missing_words=("engine",),
        when=lambda c: c.engine is not None and c.engine.command.serves_http,
    ),
)

_BY_NAME = {s.name: s for s in STEPS}


def step(name: str) -> Step:
    """The step called `name`."""
    return _BY_NAME[name]


def steps_for(ctx: NodeContext) -> tuple[Step, ...]:
    """The steps node `ctx` runs, in order."""
    return tuple(s for s in STEPS if s.when(ctx))


@dataclass(frozen=True)
class UnitDeps:
    """A step's systemd dependency lines on one node, from its declaration."""

    wants: tuple[str, ...]
    after: tuple[str, ...]
    requires: tuple[str, ...]


def unit_deps(s: Step, present: tuple[Step, ...]) -> UnitDeps:
    """`s`'s Wants=/After=/Requires= among the steps `present` on the node."""
    names = {p.name for p in present}
    requires = tuple(step(n).unit for n in s.requires if n in names)
    wanted = tuple(step(n).unit for n in s.wants if n in names)
    return UnitDeps(
        wants=(*s.system_wants, *wanted),
        after=(*s.system_wants, *s.system_after, *requires, *wanted),
        requires=requires,
    )


@dataclass(frozen=True)
class NodeFile:
    """A file the cloud-config writes on the node."""

    path: str
    template: str
    mode: str
    step: Step | None
    """The step it belongs to; None for gpuform.target."""


def step_files(ctx: NodeContext, s: Step) -> tuple[NodeFile, ...]:
    """The unit and scripts of step `s` on node `ctx`."""
    unit = NodeFile(f"{ctx.paths.units}/{s.unit}", f"units/{s.name}.service.j2", "0644", s)
    scripts = tuple(
        NodeFile(f"{ctx.paths.lib}/{script_file(n)}", f"scripts/{script_file(n)}.j2", mode, s)
        for n in s.scripts
        for mode in ("0755" if script_file(n).endswith(".sh") else "0644",)
    )
    return (unit, *scripts)


def script_file(name: str) -> str:
    """A step script's file name: `name.sh`, or `name` itself when it has a suffix (a Python
    file runs as `python3 FILE`, so it is not executable)."""
    return name if "." in name else f"{name}.sh"


def node_files(ctx: NodeContext) -> tuple[NodeFile, ...]:
    """Every file of node `ctx`, in the order the cloud-config lists them."""
    files = [f for s in steps_for(ctx) for f in step_files(ctx, s)]
    files.append(NodeFile(f"{ctx.paths.units}/{TARGET}", "units/gpuform.target.j2", "0644", None))
    return tuple(files)
