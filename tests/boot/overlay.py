"""Copy-on-write copies of the cached rootfs: an overlay mount per booted node.

`systemd-nspawn --ephemeral` would copy the whole tree on a filesystem without snapshots, so
the harness mounts overlayfs itself: the cached rootfs is the read-only lower layer and
everything the boot writes lands in the upper layer, which is also how the harness lists the
files the bootstrap wrote.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

WORK_ROOT = Path("/var/tmp")


@dataclass(frozen=True)
class Overlay:
    """A mounted copy: `root` is what the container boots, `upper` holds what it changed."""

    root: Path
    upper: Path


@contextmanager
def overlay(lower: Path, name: str) -> Iterator[Overlay]:
    """Mount a writable copy of `lower`; unmount and delete it on exit, whatever happened."""
    base = Path(tempfile.mkdtemp(prefix=f"gpuform-boot-{name}-", dir=WORK_ROOT))
    upper, work, root = base / "upper", base / "work", base / "root"
    for d in (upper, work, root):
        d.mkdir()
    mounted = False
    try:
        opts = f"lowerdir={lower},upperdir={upper},workdir={work}"
        proc = subprocess.run(
            ["mount", "-t", "overlay", "overlay", "-o", opts, str(root)],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"overlay mount of {lower} failed: {proc.stderr.strip()}")
        mounted = True
        yield Overlay(root, upper)
    finally:
        if mounted:
            # Lazy: a process still dying inside the copy must not keep the mount alive.
            subprocess.run(
                ["umount", "-l", str(root)], capture_output=True, timeout=30, check=False
            )
        shutil.rmtree(base, ignore_errors=True)
