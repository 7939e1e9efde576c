"""Stand-ins for systemctl, journalctl and nvidia-smi on lab nodes, so status, wait and logs
run end to end over real SSH against states a test sets.

Each lab node's sshd puts the node's `bin/` first on PATH (sshd_config SetEnv); the scripts
read `units/<unit>` (systemctl show properties), `jobs`, `journal` and `reasons/<unit>` from the
node's folder, named by $GPUFORM_STUB.
"""

from __future__ import annotations

from pathlib import Path

_SYSTEMCTL = r"""#!/bin/bash
# systemctl stand-in: unit properties come from $GPUFORM_STUB/units/<unit>.
cmd=$1; shift
case "$cmd" in
  show)
    prop=; value=; units=()
    for a in "$@"; do
      case "$a" in
        --property=*) prop=${a#--property=} ;;
        --value) value=1 ;;
        -*) ;;
        *) units+=("$a") ;;
      esac
    done
    for u in "${units[@]}"; do
      f="$GPUFORM_STUB/units/$u"
      if [ -n "$value" ]; then
        sed -n "s/^$prop=//p" "$f" 2>/dev/null
        continue
      fi
      echo "Id=$u"
      if [ -f "$f" ]; then cat "$f"; else printf 'LoadState=not-found\nActiveState=inactive\n'; fi
      echo
    done ;;
  list-jobs) cat "$GPUFORM_STUB/jobs" 2>/dev/null ;;
  *) echo "systemctl stand-in: $cmd not supported" >&2; exit 1 ;;
esac
"""

_JOURNALCTL = r"""#!/bin/bash
# journalctl stand-in: `-b -u UNIT ...` (the probe) prints reasons/<UNIT>; else its arguments.
unit=; follow=
for a in "$@"; do
  case "$a" in
    -f) follow=1 ;;
  esac
done
if [ "$1 $2" = "-b -u" ]; then unit=$3; fi
if [ -n "$unit" ] && [ -f "$GPUFORM_STUB/reasons/$unit" ]; then
  cat "$GPUFORM_STUB/reasons/$unit"
  exit 0
fi
echo "journalctl stand-in (SYSTEMD_COLORS=${SYSTEMD_COLORS-unset}): $*"
if [ -n "$follow" ]; then
  echo $$ >"$GPUFORM_STUB/follow.pid"
  i=0
  while true; do i=$((i + 1)); echo "follow line $i"; sleep 0.2; done
fi
"""

_NVIDIA_SMI = r"""#!/bin/bash
# nvidia-smi stand-in: `-L` lists $GPUFORM_STUB/gpus GPUs.
for i in $(seq 0 $(( $(cat "$GPUFORM_STUB/gpus" 2>/dev/null || echo 0) - 1 ))); do
  echo "GPU $i: NVIDIA H100 80GB HBM3 (UUID: GPU-0000000$i)"
done
"""


def install(folder: Path, gpus: int = 8) -> dict[str, str]:
    """Write the stand-ins under `folder`; returns the session environment that uses them."""
    bin_dir = folder / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name, text in (
        ("systemctl", _SYSTEMCTL), ("journalctl", _JOURNALCTL), ("nvidia-smi", _NVIDIA_SMI)
    ):  # fmt: skip
        path = bin_dir / name
        path.write_text(text)
        path.chmod(0o755)
    (folder / "units").mkdir(exist_ok=True)
    (folder / "reasons").mkdir(exist_ok=True)
    (folder / "gpus").write_text(f"{gpus}\n")
    # HOME is the node's folder too: a session's bash reads $HOME/.bashrc, and this machine's
    # root dotfiles (pyenv init, ~0.1 s of CPU) are no part of a GPU node.
    return {"PATH": f"{bin_dir}:/usr/bin:/bin", "GPUFORM_STUB": str(folder), "HOME": str(folder)}


def set_unit(folder: Path, unit: str, active: str, sub: str, reason: str = "") -> None:
    """Make `unit` show as ActiveState=`active` (SubState `sub`), with a journal reason."""
    result = "exit-code" if active == "failed" else "success"
    (folder / "units" / unit).write_text(
        f"LoadState=loaded\nActiveState={active}\nSubState={sub}\nResult={result}\nNRestarts=0\n"
    )
    reasons = folder / "reasons" / unit
    if reason:
        reasons.write_text(f"starting\n{reason}\n")
    else:
        reasons.unlink(missing_ok=True)
