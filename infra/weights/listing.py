"""`gpuform weights ls`: what a bucket holds under a prefix, held against its manifest.

An object counts as the manifest's file only when its size and the sha256 its upload recorded
(user metadata, infra/weights/push.py) both match: same-sized objects left by an interrupted
push, or put there by another tool, are not `ok` (issue 17).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .manifest import NAME, Manifest
from .push import key, object_shas, object_sizes
from .s3 import check_bucket, check_prefix, talking_to

OK = "ok"
NOT_LISTED = "not in manifest"


@dataclass(frozen=True)
class Row:
    name: str
    size: int
    state: str
    """ok, missing (listed, not in the bucket), size differs, sha256 differs, no sha256
    recorded (not uploaded by `gpuform weights push`), or not in the manifest."""


@dataclass(frozen=True)
class Listing:
    rows: tuple[Row, ...]
    manifest: Manifest | None

    @property
    def complete(self) -> bool:
        """Every file the manifest lists is there with its size and sha256."""
        return self.manifest is not None and all(
            r.state == OK for r in self.rows if r.state != NOT_LISTED
        )


def listing(s3: Any, bucket: str, prefix: str, workers: int = 16) -> Listing:
    """The objects under `prefix`, each marked against the manifest there."""
    check_bucket(bucket)
    check_prefix(prefix)
    base = key(prefix, "")
    objects = {k[len(base) :]: size for k, size in object_sizes(s3, bucket, prefix).items()}
    manifest = None
    if NAME in objects:
        with talking_to(s3, bucket, "reading the manifest"):
            body = s3.get_object(Bucket=bucket, Key=key(prefix, NAME))["Body"].read()
        manifest = Manifest.from_json(body, f"s3://{bucket}/{key(prefix, NAME)}")
    listed = manifest.by_name() if manifest else {}
    same_size = [n for n, f in listed.items() if objects.get(n) == f.size]
    shas = object_shas(s3, bucket, [key(prefix, n) for n in same_size], workers)
    rows = []
    for name, f in listed.items():
        have = objects.get(name)
        sha = shas.get(key(prefix, name))
        if have is None:
            state = "missing"
        elif have != f.size:
            state = "size differs"
        elif not sha:
            state = "no sha256 recorded"
        else:
            state = OK if sha == f.sha256 else "sha256 differs"
        rows.append(Row(name, f.size, state))
    rows += [
        Row(n, s, NOT_LISTED) for n, s in sorted(objects.items()) if n not in listed and n != NAME
    ]
    return Listing(tuple(rows), manifest)
