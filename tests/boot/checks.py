"""What a boot must show, as checks over a NodeReport; each returns the problems it finds.

On a machine with no GPU, no NVMe and no internet, a node must still boot into a known state:
cloud-init ends without errors, every file and unit is in place and enabled, the steps that
need neither hardware nor the internet have run, and each step that does need them fails with
one line saying what is missing (or never starts because such a step failed) instead of
hanging or restarting silently.
"""

from __future__ import annotations

from infra.render.steps import STEPS, step

from . import firewall
from .collect import LOOP_RESTARTS, NodeReport, UnitState

ENGINE = step("engine").unit
RAY = step("ray").unit

_NEED_WORDS = {
    "gpu": "GPUs",
    "internet": "the internet",
    "nvme": "local NVMe drives",
    "secret": "an OCI Vault secret",
    "engine": "a serving engine",
    "nfs": "an OCI File Storage mount target",
    "rdma": "RDMA devices",
    "volume": "an attached block volume",
}
#: What each step needs, from the step registry; a step not listed needs nothing here beyond
#: IMDS and must succeed. The words are what its failure line must use to say what is missing.
NEEDS: dict[str, tuple[str, tuple[str, ...]]] = {
    s.unit: (" and ".join(_NEED_WORDS[n] for n in sorted(s.needs)), s.missing_words)
    for s in STEPS
    if s.needs
}
#: Steps whose failure here must come from the missing network, not from something else: those
#: that need nothing but the internet (and a secret fetched over it).
ONLINE = tuple(s.unit for s in STEPS if "internet" in s.needs and s.needs <= {"internet", "secret"})
#: What a failed download says, in curl, apt, pip and docker's words.
NETWORK_ERRORS = (
    "could not resolve",
    "temporary failure resolving",
    "temporary failure in name resolution",
    "network is unreachable",
    "failed to establish a new connection",
    "name or service not known",
    "no route to host",
)
_PREFIX = "gpuform: "


def cloud_init_clean(r: NodeReport) -> list[str]:
    """The container booted, cloud-init ran every stage and reported no error."""
    if r.boot_error:
        return [f"did not boot: {r.boot_error}"]
    problems = [f"cloud-init error: {e}" for e in r.cloud_init_errors]
    first = r.cloud_init_status.splitlines()[0] if r.cloud_init_status else "(no status)"
    if first.strip() != "status: done":
        problems.append(f"cloud-init {first.strip()} (exit {r.cloud_init_rc})")
    return problems


def files_and_units(r: NodeReport) -> list[str]:
    """Every rendered file is on disk as rendered; every unit loaded and enabled."""
    problems = []
    for f in r.files:
        if not f.exists:
            problems.append(f"{f.path}: not written")
        elif not f.matches:
            problems.append(f"{f.path}: content differs from the rendered file")
        elif f.path.endswith(".sh") and not f.executable:
            problems.append(f"{f.path}: not executable")
    for u in r.units:
        if u.load != "loaded":
            problems.append(f"{u.name}: {u.load}, not loaded")
        if u.enabled != "enabled":
            problems.append(f"{u.name}: {u.enabled}, not enabled")
    return problems


def offline_steps_ran(r: NodeReport) -> list[str]:
    """Steps needing neither hardware nor the internet succeeded."""
    problems = []
    for u in r.units:
        if u.name not in NEEDS and not (u.active == "active" and u.result == "success"):
            problems.append(f"{u.name} needs only IMDS but is {u.active} ({u.result}): {u.reason}")
    return problems


def failures_are_clear(r: NodeReport) -> list[str]:
    """Each failed step said what is missing in exactly one `gpuform:` line, and nothing hung."""
    problems = []
    if not r.settled:
        busy = [
            f"{u.name} {u.active}/{u.sub}"
            for u in r.units
            if u.active not in ("active", "inactive", "failed")
        ]
        problems.append(f"units did not settle in time: {', '.join(busy) or 'jobs still queued'}")
    for u in r.units:
        if u.name not in NEEDS or u.active != "failed":
            continue
        problems += _one_clear_line(u, NEEDS[u.name][1])
    return problems


def _one_clear_line(u: UnitState, words: tuple[str, ...]) -> list[str]:
    if not u.own_lines:
        # Never ran its own code: systemd's line must say it was a dependency that failed.
        if any("Dependency failed" in line for line in u.systemd_lines):
            return []
        return [f"{u.name} failed without a line of its own: {u.reason}"]
    ours = [line for line in u.own_lines if line.startswith(_PREFIX)]
    problems = []
    # A step may be started more than once (each unit started alone pulls its failed
    # Requires= in again); every run must end in the same one line.
    runs = max(1, sum(1 for line in u.systemd_lines if line.startswith("Starting ")))
    if len(ours) != runs or len(set(ours)) != 1:
        problems.append(
            f"{u.name} ran {runs} time(s) and logged {len(ours)} gpuform: line(s), "
            f"{len(set(ours))} distinct, not one a run: {list(u.own_lines)}"
        )
    if len(u.own_lines) != len(ours):
        noise = [line for line in u.own_lines if not line.startswith(_PREFIX)]
        problems.append(
            f"{u.name} logged {len(noise)} other line(s) besides its reason: {noise[:5]}"
        )
    if ours and not any(w.lower() in ours[-1].lower() for w in words):
        problems.append(
            f"{u.name}: {ours[-1]!r} does not name what is missing ({', '.join(words)})"
        )
    return problems


def online_steps_failed_for_lack_of_network(r: NodeReport) -> list[str]:
    """A failed step that needs the internet failed because the network is missing.

    Anything else (a missing package, a wrong probe) would fail on a real node too, so the
    step's detail log, named in its line as `(details: PATH)`, must show a network error.
    """
    problems = []
    for u in r.units:
        if u.name not in ONLINE or u.active != "failed" or not u.own_lines:
            continue
        line = u.own_lines[-1]
        log = line.rsplit("(details: ", 1)[1].rstrip(")") if "(details: " in line else ""
        text = (line + "\n" + r.written.get(log, "")).lower()
        if not any(e in text for e in NETWORK_ERRORS):
            tail = r.written.get(log, "(no log)").strip().splitlines()[-3:]
            problems.append(
                f"{u.name} failed, but not for lack of network: {line!r}; "
                f"{log or 'its log'} ends {tail}"
            )
    return problems


def engine_not_looping(r: NodeReport) -> list[str]:
    """Long-running units (the engine, Ray) are not restarting in a loop; each restart left a line.

    Which of them a node has is the node plan's call (a vLLM pipeline's worker runs only Ray, a
    torchrun training node neither); each one the plan lists must be among the node's units.
    """
    expected = [u for u in (ENGINE, RAY) if u in r.plan.steps]
    missing = [u for u in expected if r.unit(u) is None]
    if missing:
        return [f"{', '.join(missing)} planned but not among the node's units"]
    present = [u for u in (r.unit(n) for n in expected) if u is not None]
    problems = []
    for u in present:
        if u.restarts >= LOOP_RESTARTS:
            problems.append(f"{u.name} restarted {u.restarts} times during the boot")
        stopped = [line for line in u.own_lines if " stopped (" in line]
        if u.name == ENGINE and u.restarts and len(stopped) < u.restarts:
            problems.append(
                f"{u.name} restarted {u.restarts} times but logged {len(stopped)} stop line(s)"
            )
        if u.active == "activating" and u.sub == "auto-restart":
            problems.append(f"{u.name} is waiting to restart again: {u.reason}")
    return problems


def firewall_admits_exactly_the_served_ports(r: NodeReport) -> list[str]:
    """From the VCN, each port the node serves is open and any other is rejected (every TCP
    port is open on nodes of a multi-node replica, for their peers); from outside the VCN
    nothing is open. The rules are saved where the image loads them at boot."""
    if r.boot_error:
        return []
    p = r.plan
    if not r.firewall:
        return ["the host firewall was not probed (the node did not settle?)"]
    problems = []
    for probe in r.firewall:
        if probe.outcome.startswith("error"):
            problems.append(f"TCP {probe.port}: {probe.outcome}")
            continue
        should = probe.source == firewall.VCN and (probe.port in p.served_ports or p.peers_all_tcp)
        where = f"from {probe.address} ({'in' if probe.source == firewall.VCN else 'outside'} "
        where += f"the VCN {p.vcn_cidr})"
        if should and probe.outcome != "open":
            why = "the node serves it" if probe.port in p.served_ports else "replica peers"
            problems.append(f"TCP {probe.port} {where} is {probe.outcome}, but {why}")
        elif not should and probe.outcome == "open":
            problems.append(f"TCP {probe.port} {where} is open; nothing should reach it")
    saved = [line for line in r.firewall_saved.splitlines() if line.startswith("-A INPUT ")]
    for port in p.served_ports:
        if not any(f"-s {p.vcn_cidr} " in s and f"--dport {port} " in s for s in saved):
            problems.append(f"TCP {port} is not saved to {firewall.SAVED_RULES}; lost on reboot")
    if p.peers_all_tcp and not any(
        f"-s {p.vcn_cidr} -p tcp " in s and "--dport" not in s for s in saved
    ):
        problems.append(f"the replica peers' TCP rule is not saved to {firewall.SAVED_RULES}")
    return problems


def halted(r: NodeReport) -> list[str]:
    """The container powered off cleanly when asked."""
    return [] if r.halted_cleanly or r.boot_error else ["the container had to be killed to stop"]


ALL = (
    cloud_init_clean,
    files_and_units,
    offline_steps_ran,
    failures_are_clear,
    online_steps_failed_for_lack_of_network,
    engine_not_looping,
    firewall_admits_exactly_the_served_ports,
)
