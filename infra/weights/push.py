"""`gpuform weights push`: a model folder to a bucket, manifest last, only what is missing.

Every file is hashed first (the manifest needs its sha256, and parts upload out of order), then
the files the bucket lacks go up through one s3transfer manager: parallel multipart uploads,
each object carrying its sha256 as user metadata so a later run can tell a finished upload of
the same bytes from a stale one even before a manifest exists. The manifest goes up last: a
bucket with a manifest holds every file it lists.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from boto3.s3.transfer import TransferConfig, create_transfer_manager
from botocore.exceptions import ClientError
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from s3transfer.subscribers import BaseSubscriber

from ..errors import UserError
from .manifest import NAME, FileEntry, Manifest, build

SHA_META = "sha256"
"""User metadata key (x-amz-meta-sha256; opc-meta-sha256 in OCI's own API)."""


@dataclass(frozen=True)
class PushResult:
    uploaded: tuple[str, ...]
    skipped: tuple[str, ...]
    bytes_uploaded: int
    seconds: float
    manifest_key: str


def key(prefix: str, name: str) -> str:
    return f"{prefix.strip('/')}/{name}" if prefix.strip("/") else name


def remote_state(s3: Any, bucket: str, prefix: str) -> tuple[dict[str, int], dict[str, str]]:
    """(object key -> size) under `prefix`, and (file name -> sha256) of its manifest."""
    sizes: dict[str, int] = {}
    start = key(prefix, "")
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=start):
            for obj in page.get("Contents", []):
                sizes[obj["Key"]] = int(obj["Size"])
    except ClientError as err:
        raise UserError(f"--bucket = {bucket!r}: {_says(err)}") from None
    shas: dict[str, str] = {}
    if key(prefix, NAME) in sizes:
        body = s3.get_object(Bucket=bucket, Key=key(prefix, NAME))["Body"].read()
        try:
            shas = {f.name: f.sha256 for f in Manifest.from_json(body, "the bucket's").files}
        except UserError:
            shas = {}  # a broken manifest is replaced; every object is checked by its metadata
    return sizes, shas


def _says(err: ClientError) -> str:
    e = err.response.get("Error", {})
    return f"{e.get('Code', '?')}: {e.get('Message', '')}".rstrip(": ")


def needs_upload(
    s3: Any, bucket: str, prefix: str, f: FileEntry, sizes: dict[str, int], shas: dict[str, str]
) -> bool:
    """Whether the bucket lacks `f`'s exact bytes (size and sha256 decide)."""
    k = key(prefix, f.name)
    if sizes.get(k) != f.size:
        return True
    if f.name in shas:
        return shas[f.name] != f.sha256
    meta = s3.head_object(Bucket=bucket, Key=k).get("Metadata", {})
    return bool(meta.get(SHA_META) != f.sha256)


class _Progress(BaseSubscriber):  # type: ignore[misc]
    def __init__(self, advance: Callable[[int], None]) -> None:
        self._advance = advance

    def on_progress(self, future: Any, bytes_transferred: int, **kwargs: Any) -> None:
        self._advance(bytes_transferred)


@contextmanager
def _bar(console: Console) -> Iterator[Progress]:
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=not console.is_terminal,
    ) as progress:
        yield progress


def push(
    s3: Any,
    root: Path,
    bucket: str,
    prefix: str,
    *,
    workers: int = 16,
    part_size_mb: int = 64,
    console: Console | None = None,
) -> PushResult:
    """Upload what `bucket`/`prefix` lacks of `root`, then the manifest."""
    console = console or Console(stderr=True)
    t0 = time.monotonic()
    with _bar(console) as progress:
        hashing = progress.add_task("hashing", total=_size(root))
        manifest = build(root, workers, lambda n: progress.advance(hashing, n))
        progress.remove_task(hashing)
    sizes, shas = remote_state(s3, bucket, prefix)
    todo = [f for f in manifest.files if needs_upload(s3, bucket, prefix, f, sizes, shas)]
    part = part_size_mb << 20
    config = TransferConfig(
        multipart_threshold=part,
        multipart_chunksize=part,
        max_concurrency=workers,
        use_threads=True,
    )
    total = sum(f.size for f in todo)
    with _bar(console) as progress, create_transfer_manager(s3, config) as tm:
        task: TaskID = progress.add_task(f"uploading {len(todo)} file(s)", total=total)
        done = _Progress(lambda n: progress.advance(task, n))
        futures = [
            tm.upload(
                str(root / f.name),
                bucket,
                key(prefix, f.name),
                extra_args={"Metadata": {SHA_META: f.sha256}},
                subscribers=[done],
            )
            for f in todo
        ]
        for fut in futures:
            try:
                fut.result()
            except ClientError as err:
                raise UserError(f"--bucket = {bucket!r}: upload failed, {_says(err)}") from None
    s3.put_object(
        Bucket=bucket,
        Key=key(prefix, NAME),
        Body=manifest.to_json().encode(),
        ContentType="application/json",
    )
    return PushResult(
        uploaded=tuple(f.name for f in todo),
        skipped=tuple(f.name for f in manifest.files if f not in todo),
        bytes_uploaded=total,
        seconds=time.monotonic() - t0,
        manifest_key=key(prefix, NAME),
    )


def _size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def default_workers() -> int:
    return min(32, (os.cpu_count() or 4) * 4)
