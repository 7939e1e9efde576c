"""`gpuform weights push | verify | ls`: the weight cache a stack's nodes pull from."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from .errors import fail, user_errors

CREDENTIALS = (
    "Credentials: an OCI Customer Secret Key in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
    "(OCI's S3-compatible API, path-style, at https://NAMESPACE.compat.objectstorage."
    "REGION.oraclecloud.com)."
)

weights = typer.Typer(
    help="Push model weights to Object Storage, list and verify them (docs/weights.md).",
    no_args_is_help=True,
)
out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)

Bucket = Annotated[str, typer.Option("--bucket", help="Object Storage bucket.")]
Prefix = Annotated[
    str,
    typer.Option(
        "--prefix",
        help="Folder in the bucket: the stack's weights.prefix, which defaults to the model id.",
    ),
]
Region = Annotated[str | None, typer.Option("--region", help="OCI region, e.g. us-ashburn-1.")]
Namespace = Annotated[
    str | None, typer.Option("--namespace", help="Object Storage namespace (oci os ns get).")
]
Endpoint = Annotated[
    str | None,
    typer.Option("--endpoint-url", help="Any S3 endpoint instead of OCI's (tests, mirrors)."),
]
Workers = Annotated[int, typer.Option("--workers", min=1, max=256, help="Parallel transfers.")]


@weights.command(help=f"Upload what the bucket lacks of MODEL_DIR, manifest last. {CREDENTIALS}")
@user_errors
def push(
    model_dir: Annotated[Path, typer.Argument(help="The model's folder (config, safetensors).")],
    bucket: Bucket,
    prefix: Prefix = "",
    region: Region = None,
    namespace: Namespace = None,
    endpoint_url: Endpoint = None,
    workers: Workers = 16,
    part_size_mb: Annotated[
        int, typer.Option("--part-size-mb", min=5, max=5120, help="Multipart part size.")
    ] = 64,
) -> None:
    from ..weights import s3
    from ..weights.push import push as run_push

    s3.check_bucket(bucket)
    s3.check_prefix(prefix)
    client = s3.client(
        region=region, namespace=namespace, endpoint_url=endpoint_url, workers=workers
    )
    r = run_push(client, model_dir, bucket, prefix, workers=workers, part_size_mb=part_size_mb)
    gb = r.bytes_uploaded / 1e9
    rate = gb / r.seconds if r.seconds else 0.0
    out.print(
        f"pushed {len(r.uploaded)} file(s), {gb:.2f} GB in {r.seconds:.1f}s ({rate:.2f} GB/s); "
        f"{len(r.skipped)} already there; manifest s3://{bucket}/{r.manifest_key}"
    )


@weights.command(help="Check every file of DIR against its manifest (size and hash).")
@user_errors
def verify(
    directory: Annotated[Path, typer.Argument(help="A pulled cache or a pushed model folder.")],
    manifest: Annotated[
        Path | None, typer.Option("--manifest", help="Default: DIR/gpuform-manifest.json.")
    ] = None,
    workers: Workers = 8,
) -> None:
    from ..weights.verify import verify_dir

    v = verify_dir(directory, manifest, workers)
    if v.problems:
        name, why = v.problems[0]
        more = f" (and {len(v.problems) - 1} more)" if len(v.problems) > 1 else ""
        raise fail(f"{directory}: {name}: {why}{more}; pull or push it again")
    out.print(f"{directory}: {v.files} file(s), {v.bytes / 1e9:.2f} GB verified")


@weights.command(name="ls", help=f"Show what the bucket holds under PREFIX. {CREDENTIALS}")
@user_errors
def ls(
    bucket: Bucket,
    prefix: Prefix = "",
    region: Region = None,
    namespace: Namespace = None,
    endpoint_url: Endpoint = None,
) -> None:
    from ..weights import s3
    from ..weights.listing import listing

    s3.check_bucket(bucket)
    s3.check_prefix(prefix)
    result = listing(
        s3.client(region=region, namespace=namespace, endpoint_url=endpoint_url), bucket, prefix
    )
    table = Table(show_edge=False)
    for col in ("file", "bytes", "state"):
        table.add_column(col, justify="right" if col == "bytes" else "left")
    for r in result.rows:
        table.add_row(r.name, f"{r.size:,}", r.state)
    out.print(table)
    m = result.manifest
    if m is None:
        out.print("no manifest: push has not finished here (run `gpuform weights push`)")
    else:
        state = (
            "complete"
            if result.complete
            else "incomplete: objects differ from it; run `gpuform weights push` again"
        )
        out.print(f"manifest: {len(m.files)} file(s), {m.total_bytes / 1e9:.2f} GB, {state}")


def register(app: typer.Typer) -> None:
    """Add `gpuform weights ...` to the main command."""
    app.add_typer(weights, name="weights")
