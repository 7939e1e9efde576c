"""Interpreters the node-side pull must run under, where this machine has them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def _python36() -> Path | None:
    """A working Python 3.6 (pyenv's, where the shim alone would fail), or None."""
    found = [
        shutil.which("python3.6"),
        *map(str, Path.home().glob(".pyenv/versions/3.6*/bin/python3.6")),
    ]
    for cand in filter(None, found):
        ok = subprocess.run([cand, "-c", "import sys; assert sys.version_info[:2] == (3, 6)"],
                            capture_output=True).returncode == 0  # fmt: skip
        if ok:
            return Path(cand)
    return None


PY36 = _python36()
