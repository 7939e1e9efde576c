"""Plain-text account of a booted node: verdicts first, then the evidence."""

from __future__ import annotations

from . import checks
from .collect import NodeReport


def verdicts(r: NodeReport) -> list[tuple[str, list[str]]]:
    """(check name, problems) for every check, in order."""
    return [(c.__name__, c(r)) for c in (*checks.ALL, checks.halted)]


def render(r: NodeReport) -> str:
    """Everything collected from `r`, readable in a terminal or a CI log."""
    p = r.plan
    out = [f"=== {p.stack} node {p.index} ({p.role}, {p.hostname} {p.address}) ==="]
    if p.os_note:
        out.append(f"note: {p.os_note}")
    out.append("timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in r.seconds.items()))
    out.append("")
    for name, problems in verdicts(r):
        out.append(f"{'ok  ' if not problems else 'FAIL'} {name}")
        out += [f"       - {line}" for line in problems]
    out += ["", "--- cloud-init status --long", r.cloud_init_status or r.boot_error or ""]
    out += ["", "--- gpuform units"]
    for u in r.units:
        out.append(
            f"{u.name:32} {u.active}/{u.sub} result={u.result} restarts={u.restarts} {u.enabled}"
        )
        out.append(f"{'':32} {u.reason}")
    out += ["", "--- journal of gpuform units", r.journal.rstrip()]
    out += ["", "--- rendered files on the node"]
    for f in r.files:
        state = "ok" if f.exists and f.matches else ("differs" if f.exists else "MISSING")
        out.append(f"{state:8} {'x' if f.executable else '-'} {f.path}")
    out += ["", "--- files the bootstrap wrote"]
    for path, content in r.written.items():
        out.append(f"{path}:")
        out += [f"    {line}" for line in content.rstrip().splitlines()[-20:]]
    out += ["", "--- host firewall, probed from the stack's bridge (firewall.py)"]
    out += [
        f"TCP {f.port:<5} from {f.address or '-':15} {f.source:8} {f.outcome}" for f in r.firewall
    ]
    saved = [line for line in r.firewall_saved.splitlines() if line.startswith("-A INPUT")]
    out += ["saved to /etc/iptables/rules.v4:", *[f"    {line}" for line in saved]]
    out += ["", "--- IMDS requests", *r.imds_requests]
    out += ["", "--- /var/log/cloud-init-output.log (tail)", r.cloud_init_output.rstrip()]
    if r.boot_error:
        out += ["", "--- console (tail)", r.console_tail]
    return "\n".join(out) + "\n"
