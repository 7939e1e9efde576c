"""`gpuform weights push`: a model folder to a bucket, manifest last, only what differs.

The bucket is asked first (a wrong name, key or endpoint fails before hours of hashing). Every
file is then hashed (the manifest needs its sha256, and parts upload out of order), and each
object already in the bucket is judged by its own content record: its size and the sha256 it
carries as user metadata, written with the object by the upload that made it. The old
manifest's word is not taken for an object's bytes: an interrupted push may have replaced
objects it lists (issue 17). When anything must go up, the old manifest is withdrawn first and
the new one goes up last, so a prefix with a manifest holds exactly the bytes it lists.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from boto3.s3.transfer import TransferConfig, create_transfer_manager
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

from .manifest import NAME, FileEntry, Manifest, build
from .s3 import check_bucket, check_prefix, talking_to

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


def object_sizes(s3: Any, bucket: str, prefix: str) -> dict[str, int]:
    """(object key -> size) under `prefix`."""
    sizes: dict[str, int] = {}
    with talking_to(s3, bucket, "listing the bucket"):
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=key(prefix, "")
        ):
            for obj in page.get("Contents", []):
                sizes[obj["Key"]] = int(obj["Size"])
    return sizes


def object_shas(s3: Any, bucket: str, keys: list[str], workers: int) -> dict[str, str]:
    """(object key -> the sha256 its upload recorded, or "" when none did), HEADs in parallel."""

    def head(k: str) -> str:
        meta = s3.head_object(Bucket=bucket, Key=k).get("Metadata", {})
        return str(meta.get(SHA_META, ""))

    with talking_to(s3, bucket, "reading object metadata"), ThreadPoolExecutor(workers) as pool:
        return dict(zip(keys, pool.map(head, keys), strict=True))


def to_upload(
    s3: Any, bucket: str, prefix: str, files: tuple[FileEntry, ...], workers: int
) -> list[FileEntry]:
    """The files whose exact bytes the bucket lacks: a size or sha256 of its own that differs."""
    sizes = object_sizes(s3, bucket, prefix)
    same_size = [f for f in files if sizes.get(key(prefix, f.name)) == f.size]
    shas = object_shas(s3, bucket, [key(prefix, f.name) for f in same_size], workers)
    return [f for f in files if shas.get(key(prefix, f.name)) != f.sha256]


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
    check_bucket(bucket)
    check_prefix(prefix)
    console = console or Console(stderr=True)
    t0 = time.monotonic()
    with talking_to(s3, bucket, "opening the bucket"):
        s3.head_bucket(Bucket=bucket)
    manifest = _hash(root, workers, console)
    todo = to_upload(s3, bucket, prefix, manifest.files, workers)
    if todo:
        # From here until the new manifest is up, the prefix's objects and the old manifest may
        # disagree: without a manifest, nodes and `weights ls` say the push is unfinished.
        with talking_to(s3, bucket, "withdrawing the old manifest"):
            s3.delete_object(Bucket=bucket, Key=key(prefix, NAME))
    config = _transfer_config(workers, part_size_mb)
    total = _upload(s3, root, bucket, prefix, todo, config, console)
    with talking_to(s3, bucket, "uploading the manifest"):
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


def _hash(root: Path, workers: int, console: Console) -> Manifest:
    """The manifest of `root`, with a progress bar over its bytes."""
    with _bar(console) as progress:
        hashing = progress.add_task("hashing", total=_size(root))
        manifest = build(root, workers, lambda n: progress.advance(hashing, n))
        progress.remove_task(hashing)
    return manifest


def _transfer_config(workers: int, part_size_mb: int) -> TransferConfig:
    part = part_size_mb << 20
    return TransferConfig(
        multipart_threshold=part,
        multipart_chunksize=part,
        max_concurrency=workers,
        use_threads=True,
    )


def _upload(
    s3: Any,
    root: Path,
    bucket: str,
    prefix: str,
    todo: list[FileEntry],
    config: TransferConfig,
    console: Console,
) -> int:
    """Upload `todo` in parallel parts, each object carrying its sha256; the bytes sent."""
    total = sum(f.size for f in todo)
    with (
        talking_to(s3, bucket, "uploading"),
        _bar(console) as progress,
        create_transfer_manager(s3, config) as tm,
    ):
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
            fut.result()
    return total


def _size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
