"""`gpuform weights ls`: what a bucket holds under a prefix, held against its manifest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from ..errors import UserError
from .manifest import NAME, Manifest
from .push import key


@dataclass(frozen=True)
class Row:
    name: str
    size: int
    state: str
    """ok, missing (listed, not in the bucket), size differs, or not in the manifest."""


@dataclass(frozen=True)
class Listing:
    rows: tuple[Row, ...]
    manifest: Manifest | None

    @property
    def complete(self) -> bool:
        """Every file the manifest lists is there at its size."""
        return self.manifest is not None and all(
            r.state == "ok" for r in self.rows if r.state != "not in manifest"
        )


def listing(s3: Any, bucket: str, prefix: str) -> Listing:
    """The objects under `prefix`, each marked against the manifest there."""
    base = key(prefix, "")
    objects: dict[str, int] = {}
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base):
            for obj in page.get("Contents", []):
                objects[obj["Key"][len(base) :]] = int(obj["Size"])
        manifest = (
            Manifest.from_json(
                s3.get_object(Bucket=bucket, Key=key(prefix, NAME))["Body"].read(),
                f"s3://{bucket}/{key(prefix, NAME)}",
            )
            if NAME in objects
            else None
        )
    except ClientError as err:
        e = err.response.get("Error", {})
        raise UserError(f"--bucket = {bucket!r}: {e.get('Code')}: {e.get('Message')}") from None
    listed = manifest.by_name() if manifest else {}
    rows = []
    for name, f in listed.items():
        have = objects.get(name)
        state = "missing" if have is None else "ok" if have == f.size else "size differs"
        rows.append(Row(name, f.size, state))
    rows += [
        Row(n, s, "not in manifest")
        for n, s in sorted(objects.items())
        if n not in listed and n != NAME
    ]
    return Listing(tuple(rows), manifest)
