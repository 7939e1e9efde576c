"""Node coverage inside the boot harness's containers: every unit systemd starts gets BASH_ENV
(systemd's DefaultEnvironment), and what the scripts traced is copied out before the overlay
goes away."""

from __future__ import annotations

import shutil
from pathlib import Path

from . import PRELUDE, folder

_PRELUDE = "usr/local/lib/gpuform-nodecov/prelude.sh"
_TRACES = "var/lib/gpuform-nodecov"


def seed(root: Path) -> None:
    """Put the prelude and systemd's drop-in into the node's root (coverage on only)."""
    if folder() is None:
        return
    prelude = root / _PRELUDE
    prelude.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(PRELUDE, prelude)
    conf = root / "etc/systemd/system.conf.d/gpuform-nodecov.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(
        f"[Manager]\nDefaultEnvironment=BASH_ENV=/{_PRELUDE} GPUFORM_NODECOV_DIR=/{_TRACES}/bash\n"
    )


def collect(root: Path, run: str) -> None:
    """Copy the node's traces and script copies into this run's folder."""
    dest = folder()
    src = root / _TRACES / "bash"
    if dest is None or not src.is_dir():
        return
    for kind in ("src", "trace"):
        out = dest / "bash" / kind
        out.mkdir(parents=True, exist_ok=True)
        for f in (src / kind).glob("*"):
            name = f.name if kind == "src" else f"{run}.{f.name}"
            shutil.copyfile(f, out / name)
