"""`gpuform weights verify DIR`: every file of a folder against its manifest."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from . import fetch


@dataclass(frozen=True)
class Verdict:
    files: int
    bytes: int
    problems: tuple[tuple[str, str], ...]
    """(file, what is wrong with it), in manifest order."""


def verify_dir(root: Path, manifest: Path | None = None, workers: int = 0) -> Verdict:
    """Check sizes and hashes (sha256, or the hub's git sha1) of `root`'s files in parallel."""
    path = manifest or root / fetch.MANIFEST
    if not path.is_file():
        raise UserError(
            f"{str(path)!r}: no manifest there; pass --manifest PATH, or pull the weights first"
        )
    try:
        entries = fetch.entries_from(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError, fetch.Failure) as err:
        raise UserError(f"{str(path)!r}: not a {fetch.FORMAT} manifest ({err})") from None
    with ThreadPoolExecutor(workers or os.cpu_count() or 4) as pool:
        found = list(pool.map(lambda e: fetch.verify_file(str(root / e.name), e), entries))
    problems = tuple((e.name, p) for e, p in zip(entries, found, strict=True) if p is not None)
    return Verdict(len(entries), sum(e.size for e in entries), problems)
