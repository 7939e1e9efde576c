"""Model folders made up for the tests: many files, nested, one bigger than the part size."""

from __future__ import annotations

import random
from pathlib import Path

MiB = 1 << 20


def model_dir(root: Path, files: int = 40, big_mb: int = 12, seed: int = 7) -> Path:
    """A folder like a model's: config files, shards, a nested folder, an empty file."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text('{"model_type": "llama"}\n')
    (root / "empty.txt").write_bytes(b"")
    (root / "model-big.safetensors").write_bytes(rng.randbytes(big_mb * MiB + 12345))
    for i in range(files):
        sub = root / ("tokenizer" if i % 5 == 0 else ".") / f"shard-{i:03d}.bin"
        sub.parent.mkdir(parents=True, exist_ok=True)
        sub.write_bytes(rng.randbytes(rng.randrange(1, 300_000)))
    return root


def same_tree(a: Path, b: Path) -> list[str]:
    """Files that differ between two folders (byte for byte), ignoring gpuform's manifest."""

    def files(r: Path) -> dict[str, bytes]:
        return {
            p.relative_to(r).as_posix(): p.read_bytes()
            for p in r.rglob("*")
            if p.is_file() and p.name != "gpuform-manifest.json"
        }

    fa, fb = files(a), files(b)
    return sorted(n for n in fa.keys() | fb.keys() if fa.get(n) != fb.get(n))
