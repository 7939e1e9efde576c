"""Whether this machine can boot harness containers, and if not, the one reason to skip."""

from __future__ import annotations

import os
import shutil

TOOLS = ("systemd-nspawn", "debootstrap", "ip", "nsenter")


def why_not() -> str:
    """Empty when boots can run here; else what is missing (root, or the tools)."""
    if os.geteuid() != 0:
        return "booting containers needs root"
    missing = [t for t in TOOLS if not shutil.which(t)]
    return f"missing {', '.join(missing)} (make tools)" if missing else ""
