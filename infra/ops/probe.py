"""What one node says about itself, in one round trip: step units, GPUs, Ray, failure reasons.

The probe is a small shell script (one SSH exec, however many units) whose output is cut into
sections by `@@name` marker lines; `parse` turns it into a NodeState. Reading the journal and
`docker exec` need root: the script uses `sudo -n` when it is not root and sudo allows it.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from .fanout import parallel
from .inventory import Inventory, Node
from .transport import RunResult, Transport

TARGET = "gpuform.target"
#: Every node's first unit, stage 0 (infra/render/stage0.py's UNIT; the ops layer does not
#: import rendering, and a test holds the two equal): it installs the others from the bundle.
STAGE0 = "gpuform-bundle.service"
PROBE_TIMEOUT_S = 20
_PROPS = "Id,LoadState,ActiveState,SubState,Result,NRestarts"
_RAY_NODE = re.compile(r"^\s*(\d+)\s+node_")

_SCRIPT = """\
S=; if [ "$(id -u)" != 0 ] && sudo -n true 2>/dev/null; then S="sudo -n"; fi
echo @@units
systemctl show --property={props} {units} 2>&1
echo @@jobs
systemctl list-jobs --no-legend --plain 2>/dev/null
echo @@gpus
if command -v nvidia-smi >/dev/null 2>&1; then
  echo "nvidia-smi $(nvidia-smi -L 2>&1 | grep -c '^GPU ')"
  nvidia-smi -L 2>&1 | grep -v '^GPU ' | head -n 1
elif command -v rocm-smi >/dev/null 2>&1; then
  echo "rocm-smi $(rocm-smi --showid 2>&1 | grep -o 'GPU\\[[0-9]*\\]' | sort -u | wc -l)"
else
  echo none
fi
echo @@reasons
for u in {steps}; do
  case "$(systemctl show --property=ActiveState --value "$u")" in
    failed|activating|deactivating)
      why=$($S journalctl -b -u "$u" -o cat --no-pager -n 300 2>/dev/null | grep '^gpuform:')
      printf '%s\\t%s\\n' "$u" "$(printf '%s\\n' "$why" | tail -n 1)";;
    inactive)
      # Never started: systemd's last word on it says why ("... failed with result 'dependency'").
      printf '%s\\t%s\\n' "$u" "$($S journalctl -b -u "$u" -o cat --no-pager -n 1 2>/dev/null)";;
  esac
done
"""
_RAY = """\
echo @@ray
$S docker exec {container} ray status 2>&1 | tail -n 40
"""


@dataclass(frozen=True)
class StepState:
    """One systemd unit of a node, as systemctl shows it."""

    unit: str
    load: str = "?"
    active: str = "?"
    sub: str = "?"
    result: str = "?"
    restarts: int = 0
    reason: str = ""
    """The unit's last `gpuform:` journal line, when it failed or is still starting."""

    @property
    def done(self) -> bool:
        return self.active == "active"

    @property
    def failed(self) -> bool:
        return self.active == "failed"

    @property
    def state(self) -> str:
        return self.active if self.sub in ("?", self.active) else f"{self.active} ({self.sub})"


@dataclass(frozen=True)
class NodeState:
    """Everything one probe learned about a node; `error` when it could not be asked."""

    node: Node
    error: str | None = None
    user_must_fix: bool = False
    """`error` is one only the user can fix (a changed host key, a refused key)."""
    target: StepState | None = None
    steps: tuple[StepState, ...] = ()
    queued: frozenset[str] = frozenset()
    """Units with a systemd job still queued or running."""
    gpus: str = "?"
    """What nvidia-smi or rocm-smi says: '8 (nvidia-smi)', 'none', '0 (nvidia-smi: ...)'."""
    ray_nodes: int | None = None
    """Nodes `ray status` shows active, on a Ray head; None elsewhere or when unknown."""
    ray_error: str = ""

    @property
    def reachable(self) -> bool:
        return self.error is None

    def step(self, unit: str) -> StepState | None:
        return next((s for s in self.steps if s.unit == unit), None)


def script(node: Node) -> str:
    """The probe script for `node` (its steps; Ray status on a Ray head)."""
    units = [TARGET, *node.steps]
    text = _SCRIPT.format(
        props=_PROPS,
        units=" ".join(shlex.quote(u) for u in units),
        steps=" ".join(shlex.quote(u) for u in node.steps) or ":",
    )
    if node.ray_role == "head":
        text += _RAY.format(container=shlex.quote(node.ray_container))
    return text


def probe(transport: Transport, node: Node, timeout_s: float = PROBE_TIMEOUT_S) -> NodeState:
    """Ask the node; an unreachable node comes back with `error` set."""
    result = transport.run(node, script(node), timeout_s=timeout_s)
    return parse(node, result)


def parse(node: Node, result: RunResult) -> NodeState:
    """A NodeState from the probe script's output."""
    if result.error is not None:
        return NodeState(node, error=result.error, user_must_fix=result.user_must_fix)
    sections = _sections(result.stdout)
    if "units" not in sections:
        why = (result.stderr.strip().splitlines() or [f"exit code {result.exit_code}"])[-1]
        return NodeState(node, error=f"{node.name}: the probe did not run: {why}")
    units = _units(sections["units"])
    reasons = dict(line.split("\t", 1) for line in sections.get("reasons", []) if "\t" in line)
    steps = tuple(_with_reason(units.get(u, StepState(u)), reasons.get(u, "")) for u in node.steps)
    ray_nodes, ray_error = _ray(sections["ray"]) if "ray" in sections else (None, "")
    return NodeState(
        node,
        target=units.get(TARGET, StepState(TARGET)),
        steps=steps,
        queued=frozenset(_queued(sections.get("jobs", []))),
        gpus=_gpus(sections.get("gpus", [])),
        ray_nodes=ray_nodes,
        ray_error=ray_error,
    )


def probe_all(
    transport: Transport, inventory: Inventory, timeout_s: float = PROBE_TIMEOUT_S
) -> dict[int, NodeState]:
    """Probe every node in parallel; node index -> state."""
    states = parallel(lambda n: probe(transport, n, timeout_s), inventory.nodes)
    return {s.node.index: s for s in states}


def _sections(stdout: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in stdout.splitlines():
        if line.startswith("@@") and line[2:].isidentifier():
            current = found.setdefault(line[2:], [])
        elif current is not None:
            current.append(line)
    return found


def _units(lines: list[str]) -> dict[str, StepState]:
    states: dict[str, StepState] = {}
    for block in "\n".join(lines).split("\n\n"):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if "Id" not in props:
            continue
        restarts = props.get("NRestarts", "0")
        states[props["Id"]] = StepState(
            unit=props["Id"],
            load=props.get("LoadState", "?"),
            active=props.get("ActiveState", "?"),
            sub=props.get("SubState", "?"),
            result=props.get("Result", "?"),
            restarts=int(restarts) if restarts.isdigit() else 0,
        )
    return states


def _with_reason(step: StepState, reason: str) -> StepState:
    if not reason:
        return step
    return StepState(
        step.unit, step.load, step.active, step.sub, step.result, step.restarts, reason.strip()
    )


def _queued(lines: list[str]) -> set[str]:
    # `systemctl list-jobs --plain`: JOB UNIT TYPE STATE
    return {parts[1] for parts in (line.split() for line in lines) if len(parts) >= 2}


def _gpus(lines: list[str]) -> str:
    if not lines or lines[0].strip() == "none":
        return "none (no nvidia-smi or rocm-smi)"
    tool, _, count = lines[0].partition(" ")
    note = lines[1].strip() if len(lines) > 1 and lines[1].strip() else ""
    if count.strip() == "0" and note:
        return f"0 ({tool}: {note[:80]})"
    return f"{count.strip()} ({tool})"


def _ray(lines: list[str]) -> tuple[int | None, str]:
    if "Active:" not in (line.strip() for line in lines):
        last = next((line.strip() for line in reversed(lines) if line.strip()), "no output")
        return None, f"ray status: {last[:120]}"
    start = [line.strip() for line in lines].index("Active:")
    active = 0
    for line in lines[start + 1 :]:
        m = _RAY_NODE.match(line)
        if m is None:
            break
        active += int(m.group(1))
    return active, ""
