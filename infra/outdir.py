"""The synth output folder: gpuform writes only into a folder it created, and marked.

A marker file, written when gpuform creates the folder, is what lets a later synth replace
files there. Any other non-empty folder, a file, the project folder (or above it) and a folder
holding stack files are refused before anything is written. Inside its folder gpuform replaces
only the files cdktf writes for the stacks being synthesized (`stacks/<name>/cdk.tf.json`,
`manifest.json`): `terraform init`'s `.terraform/` and lock file, a user's tfvars and the other
stacks' folders stay where they are.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TextIO

from .errors import UserError

MARKER = ".gpuform-out"
MARKER_TEXT = (
    "gpuform synth writes here: it replaces manifest.json and stacks/<name>/cdk.tf.json, "
    "and nothing else.\n"
)
STAGING_PREFIX = ".gpuform-staging-"
MANIFEST = "manifest.json"

#: What gpuform (before the marker existed) and `terraform init` left in an output folder: such
#: a folder is adopted, not refused, so upgrading gpuform needs no manual step.
_LEGACY_TOP = frozenset({MANIFEST, "stacks"})
_LEGACY_STACK = frozenset({"cdk.tf.json", "metadata.json", ".terraform", ".terraform.lock.hcl"})


def check(out: Path, stack_paths: Iterable[Path]) -> None:
    """Refuse, before anything is written, an `out` that gpuform must not write to: the project
    folder or above, a stacks folder (or anything inside or around one), a folder holding a
    stack file, a file, or a non-empty folder gpuform did not mark."""
    shown = str(out)
    target = out.resolve()
    cwd = Path.cwd().resolve()
    if target == cwd or target in cwd.parents:
        raise UserError.at(
            "--out",
            shown,
            "is the project folder or above it; name a folder of its own, e.g. --out cdktf.out",
        )
    for path in {p.resolve() for p in stack_paths}:
        inside = path.is_dir() and path in target.parents
        if target == path or target in path.parents or inside:
            raise UserError.at(
                "--out",
                shown,
                f"would hold or lie inside your stack files ({_shown(path)}); "
                "name a folder of its own, e.g. --out cdktf.out",
            )
    if target.exists() and not target.is_dir():
        raise UserError.at("--out", shown, "is a file; name a folder, e.g. --out cdktf.out")
    if target.is_dir() and not (target / MARKER).is_file():
        foreign = _foreign_entry(target)
        if foreign is not None:
            raise UserError.at(
                "--out",
                shown,
                f"holds files gpuform did not write ({_shown(foreign)}); "
                "name a new or empty folder, e.g. --out cdktf.out",
            )


def _foreign_entry(folder: Path) -> Path | None:
    """The first entry of `folder` that an older gpuform synth (or terraform init) did not make."""
    for entry in sorted(folder.iterdir()):
        if entry.name not in _LEGACY_TOP:
            return entry
    stacks = folder / "stacks"
    if stacks.exists():
        if not stacks.is_dir() or stacks.is_symlink():
            return stacks
        for stack in sorted(stacks.iterdir()):
            if not stack.is_dir() or stack.is_symlink():
                return stack
            for entry in sorted(stack.iterdir()):
                if entry.name not in _LEGACY_STACK:
                    return entry
    return None


@contextmanager
def claimed(out: Path) -> Iterator[Path]:
    """Create (or reuse) the checked folder `out`, marked and locked; yield a fresh staging
    folder inside it, removed on exit. A folder this call created is removed again when the
    block raises, so a failed first synth leaves nothing."""
    target = out.resolve()
    # The outermost folder this call creates: removed again, with what is in it, on failure.
    created = target if not target.exists() else None
    while created is not None and not created.parent.exists():
        created = created.parent
    try:
        target.mkdir(parents=True, exist_ok=True)
        marker = (target / MARKER).open("a+")
    except OSError as err:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise unwritable(out, err) from None
    staging: Path | None = None
    try:
        _lock(marker, out)
        marker.seek(0)
        if marker.read() != MARKER_TEXT:
            marker.truncate(0)
            marker.write(MARKER_TEXT)
            marker.flush()
        # Holding the lock, any staging folder here is a killed run's: nobody else writes here.
        for stale in target.glob(f"{STAGING_PREFIX}*"):
            shutil.rmtree(stale, ignore_errors=True)
        _remove_legacy_staging(target)
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=target))
        yield staging
    except BaseException as err:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        if isinstance(err, OSError):
            raise unwritable(out, err) from None
        raise
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        # A marker write that failed (a full disk) is still buffered; close() would raise it
        # again, over the one line already on its way.
        with suppress(OSError):
            marker.close()


def _remove_legacy_staging(target: Path) -> None:
    """Before the marker, synth staged beside its output (`.cdktf.out-1a2b3c`, `.cdktf.out-old`)
    and a killed run left that folder in the user's project. One that holds nothing but what
    synth writes is removed; anything else in it (a state file, a note) keeps it there."""
    for stale in target.parent.glob(f".{target.name}-*"):
        if stale.is_dir() and not stale.is_symlink() and _foreign_entry(stale) is None:
            shutil.rmtree(stale, ignore_errors=True)


def _lock(marker: TextIO, out: Path) -> None:
    try:
        fcntl.flock(marker.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise UserError.at(
            "--out", str(out), "another gpuform synth is writing there; wait for it to finish"
        ) from None


def install(staging: Path, target: Path, names: Iterable[str]) -> None:
    """Move the staged stacks' files into `target`, one atomic rename each, then the manifest
    (the stacks already there, plus these). Nothing else in `target` is touched, and everything
    that takes disk space is written before the first rename, so a full disk replaces nothing."""
    staged = staging / MANIFEST
    merged = _merged_manifest(target / MANIFEST, json.loads(staged.read_text()), target)
    staged.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")
    for name in names:
        source = staging / "stacks" / name
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            dest = target / "stacks" / name / path.relative_to(source)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, dest)
    os.replace(staged, target / MANIFEST)


def _merged_manifest(old_path: Path, new: dict[str, Any], target: Path) -> dict[str, Any]:
    try:
        old = json.loads(old_path.read_text())
        kept = {
            name: entry
            for name, entry in old["stacks"].items()
            if (target / entry["synthesizedStackPath"]).is_file()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        kept = {}  # no manifest yet, or one gpuform can no longer read: this run's stacks only
    return {**new, "stacks": {**kept, **new["stacks"]}}


def unwritable(out: Path, err: OSError) -> UserError:
    """The one line for an OSError met while writing into `out`."""
    reason = err.strerror or str(err)
    if err.errno == errno.ENOSPC:
        return UserError.at("--out", str(out), f"cannot write there ({reason}); free some space")
    return UserError.at(
        "--out", str(out), f"cannot write there ({reason}); name a folder you can write to"
    )


#: Node's fs errors as jsii passes them on: "ENOSPC: no space left on device, write".
_NODE_FS_ERROR = re.compile(r"\b(E[A-Z]+): ")


def node_fs_error(err: Exception) -> OSError | None:
    """The OSError behind a jsii error from cdktf's file writes, or None for any other error."""
    found = _NODE_FS_ERROR.search(str(err))
    code = getattr(errno, found.group(1), None) if found else None
    if not isinstance(code, int):
        return None
    return OSError(code, os.strerror(code))


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
