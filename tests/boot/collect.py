"""What a booted node shows: cloud-init's verdict, gpuform's units, their journal, its files.

Everything is read from the running container through nsenter (commands) or from its overlay
(files), after cloud-init has finished and gpuform's units have settled.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from infra.render.context import PathsPart

from . import container as ct
from .firewall import PortProbe
from .plan import NodePlan

POLL_S = 0.5
#: A unit restarted this often within the settle window is looping; stop waiting for it.
LOOP_RESTARTS = 3
_SETTLED = {"active", "inactive", "failed"}
_SHOWN = ("Id", "LoadState", "ActiveState", "SubState", "Result", "NRestarts", "UnitFileState")
#: Directories gpuform's bootstrap writes to; the overlay's upper layer shows what it wrote.
_PATHS = PathsPart()
WRITTEN_DIRS = (_PATHS.etc, _PATHS.lib, _PATHS.state, _PATHS.logs)


@dataclass(frozen=True)
class UnitState:
    """One gpuform unit after the boot settled."""

    name: str
    load: str
    active: str
    sub: str
    result: str
    restarts: int
    enabled: str
    own_lines: tuple[str, ...]
    """What the unit's own processes logged (not systemd's messages about it)."""
    systemd_lines: tuple[str, ...]

    @property
    def reason(self) -> str:
        """The line that says why the unit ended as it did."""
        if self.own_lines:
            return self.own_lines[-1]
        return self.systemd_lines[-1] if self.systemd_lines else "(nothing logged)"


@dataclass(frozen=True)
class FileState:
    """A file the cloud-config should have written."""

    path: str
    exists: bool
    matches: bool
    executable: bool


@dataclass
class NodeReport:
    """Everything collected from one booted node."""

    plan: NodePlan
    boot_error: str | None = None
    cloud_init_rc: int = -1
    cloud_init_status: str = ""
    cloud_init_errors: list[str] = field(default_factory=list)
    settled: bool = False
    units: list[UnitState] = field(default_factory=list)
    journal: str = ""
    files: list[FileState] = field(default_factory=list)
    written: dict[str, str] = field(default_factory=dict)
    """Files under gpuform's directories the boot created, path -> content (logs, node.env)."""
    imds_requests: list[str] = field(default_factory=list)
    roster_requests: list[str] = field(default_factory=list)
    """This node's GETs of a cluster network's roster, with the status each got."""
    bundle_requests: list[str] = field(default_factory=list)
    """This node's GETs of bundles, with the status each got."""
    cloud_init_output: str = ""
    console_tail: str = ""
    seconds: dict[str, float] = field(default_factory=dict)
    halted_cleanly: bool = False
    firewall: list[PortProbe] = field(default_factory=list)
    """Connections from the stack's bridge to stand-ins on the node's ports (firewall.py)."""
    firewall_saved: str = ""
    """The rules the image loads at boot (/etc/iptables/rules.v4) after the bootstrap."""

    def unit(self, name: str) -> UnitState | None:
        return next((u for u in self.units if u.name == name), None)


def wait_cloud_init(c: ct.Container, report: NodeReport, timeout_s: float) -> None:
    """Block until cloud-init has finished every stage (or the deadline), then record it."""
    waited = ct.run(c, ["cloud-init", "status", "--wait"], timeout_s)
    if waited.returncode == 124:
        report.cloud_init_errors.append(f"cloud-init did not finish within {timeout_s:.0f}s")
    status = ct.run(c, ["cloud-init", "status", "--long"], 30)
    report.cloud_init_rc = status.returncode
    report.cloud_init_status = (status.stdout + status.stderr).strip()
    result = ct.run(c, ["cat", "/run/cloud-init/result.json"], 10)
    try:
        report.cloud_init_errors += list(json.loads(result.stdout)["v1"]["errors"])
    except (ValueError, KeyError, TypeError):
        seen = (result.stdout + result.stderr).strip()[:300]
        report.cloud_init_errors.append(f"unreadable /run/cloud-init/result.json: {seen}")


def wait_settled(c: ct.Container, units: tuple[str, ...], timeout_s: float) -> bool:
    """Poll until no gpuform unit is starting or queued; False at the deadline or on a loop."""
    deadline = time.monotonic() + timeout_s
    while True:
        states = _show(c, units)
        jobs = ct.run(c, ["systemctl", "list-jobs", "--no-legend", "--plain"], 10).stdout
        queued = any(u in jobs for u in units)
        if not queued and all(s.get("ActiveState") in _SETTLED for s in states.values()):
            return True
        if any(int(s.get("NRestarts") or 0) >= LOOP_RESTARTS for s in states.values()):
            return False
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_S)


def collect(c: ct.Container, report: NodeReport, root: Path, upper: Path) -> None:
    """Fill `report` with unit states, journal and files of the settled node."""
    plan = report.plan
    states = _show(c, plan.units)
    for name in plan.units:
        s = states.get(name, {})
        own, sysd = _unit_lines(c, name)
        report.units.append(
            UnitState(
                name=name,
                load=s.get("LoadState", "?"),
                active=s.get("ActiveState", "?"),
                sub=s.get("SubState", "?"),
                result=s.get("Result", "?"),
                restarts=int(s.get("NRestarts") or 0),
                enabled=s.get("UnitFileState", "?"),
                own_lines=own,
                systemd_lines=sysd,
            )
        )
    journal = ct.run(c, ["journalctl", "-b", "--no-pager", "-o", "short-monotonic",
                         *[f"--unit={u}" for u in plan.units]], 30)  # fmt: skip
    report.journal = journal.stdout
    report.files = [_file_state(root, path, content) for path, content in plan.files.items()]
    report.written = _written(upper, set(plan.files))
    output = ct.run(c, ["tail", "-n", "60", "/var/log/cloud-init-output.log"], 10)
    report.cloud_init_output = output.stdout


def _show(c: ct.Container, units: tuple[str, ...]) -> dict[str, dict[str, str]]:
    if not units:
        return {}
    out = ct.run(c, ["systemctl", "show", f"--property={','.join(_SHOWN)}", *units], 15).stdout
    states: dict[str, dict[str, str]] = {}
    for block in out.strip().split("\n\n"):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if "Id" in props:
            states[props["Id"]] = props
    return states


def _unit_lines(c: ct.Container, unit: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    out = ct.run(c, ["journalctl", "-b", "--no-pager", "-o", "json", f"--unit={unit}"], 30).stdout
    own: list[str] = []
    sysd: list[str] = []
    for line in out.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        message = entry.get("MESSAGE")
        if not isinstance(message, str):  # binary or absent messages are not readable lines
            continue
        if entry.get("_PID") == "1" or entry.get("SYSLOG_IDENTIFIER") == "systemd":
            sysd.append(message)
        else:
            own.append(message)
    return tuple(own), tuple(sysd)


def _file_state(root: Path, path: str, rendered: str) -> FileState:
    host = root / path.lstrip("/")
    if not host.is_file() or host.is_symlink():
        return FileState(path, False, False, False)
    # write_files writes a YAML literal block, which ends the content with exactly one newline.
    same = host.read_text(errors="replace").rstrip("\n") == rendered.rstrip("\n")
    return FileState(path, True, same, bool(host.stat().st_mode & 0o111))


def _written(upper: Path, rendered: set[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for d in WRITTEN_DIRS:
        base = upper / d.lstrip("/")
        if not base.is_dir():
            continue
        for f in sorted(base.rglob("*")):
            path = "/" + str(f.relative_to(upper))
            if f.is_file() and not f.is_symlink() and path not in rendered:
                found[path] = f.read_text(errors="replace")[-4000:]
    return found
