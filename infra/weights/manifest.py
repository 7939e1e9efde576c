"""The weight manifest: each file's name, size and sha256, the last object a push uploads.

Its JSON shape is the one the node-side pull reads (infra/weights/fetch.py: `entries_from`);
`gpuform weights push` writes it, `verify` and every node check against it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from . import fetch

NAME = fetch.MANIFEST
FORMAT = fetch.FORMAT
_BLOCK = 8 << 20


@dataclass(frozen=True)
class FileEntry:
    name: str
    """Path relative to the model folder, with '/' separators."""
    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    files: tuple[FileEntry, ...]

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def by_name(self) -> dict[str, FileEntry]:
        return {f.name: f for f in self.files}

    def to_json(self) -> str:
        doc = {
            "format": FORMAT,
            "files": [{"name": f.name, "size": f.size, "sha256": f.sha256} for f in self.files],
        }
        return json.dumps(doc, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes, where: str) -> Manifest:
        try:
            entries = fetch.entries_from(json.loads(text))
        except (ValueError, KeyError, TypeError, fetch.Failure) as err:
            raise UserError(f"{where}: not a {FORMAT} manifest ({err})") from None
        return cls(tuple(FileEntry(e.name, e.size, e.sha256) for e in entries))


def sha256_file(path: Path, progress: Callable[[int], None] | None = None) -> str:
    """The file's sha256; `progress` hears every block's size (for a progress bar)."""
    h = hashlib.sha256()
    buf = bytearray(_BLOCK)
    view = memoryview(buf)
    with path.open("rb") as fh:
        while n := fh.readinto(buf):
            h.update(view[:n])
            if progress is not None:
                progress(n)
    return h.hexdigest()


def model_files(root: Path) -> list[Path]:
    """The files of a model folder to push, sorted; the manifest and hidden files are not."""
    if not root.is_dir():
        raise UserError(f"MODEL_DIR = {str(root)!r}: not a folder; give the model's folder")
    files = [
        p
        for p in sorted(root.rglob("*"))
        if p.is_file()
        and p.name != NAME
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]
    if not files:
        raise UserError(f"MODEL_DIR = {str(root)!r}: holds no files to push")
    return files


def build(
    root: Path, workers: int = os.cpu_count() or 4, progress: Callable[[int], None] | None = None
) -> Manifest:
    """Hash every file of `root` in parallel (hashlib lets go of the GIL on big blocks)."""
    files = model_files(root)
    with ThreadPoolExecutor(max(1, workers)) as pool:
        digests = list(pool.map(lambda p: sha256_file(p, progress), files))
    return Manifest(
        tuple(
            FileEntry(p.relative_to(root).as_posix(), p.stat().st_size, d)
            for p, d in zip(files, digests, strict=True)
        )
    )
