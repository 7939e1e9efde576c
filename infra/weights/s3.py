"""A boto3 client for OCI Object Storage's S3-compatible API (or any S3 endpoint).

OCI serves the S3 API at https://NAMESPACE.compat.objectstorage.REGION.oraclecloud.com,
path-style only, signed with a Customer Secret Key (an access key id and secret that an OCI user
creates, at most two each) which boto3 reads from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.

Every way a bucket call can fail (refused, unreachable, dropped mid-transfer, a name boto3
rejects before sending) becomes one UserError line here (`talking_to`), never a traceback.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from boto3.exceptions import Boto3Error
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from s3transfer.exceptions import TransferNotDoneError

from ..errors import UserError

KEY_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
# OCI bucket names: letters, digits, dashes, underscores and periods, up to 256 characters
# (Object Storage "Managing Buckets"), matched whole: a trailing newline is not a name.
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,255}")
_PREFIX = re.compile(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*")
#: Attempts per request (botocore's standard retry mode). AWS_MAX_ATTEMPTS, boto's own
#: variable, overrides it; read here, since the client's explicit Config would shadow it.
ATTEMPTS = 10


def oci_endpoint(region: str, namespace: str) -> str:
    return f"https://{namespace}.compat.objectstorage.{region}.oraclecloud.com"


def check_bucket(bucket: str) -> str:
    if not _BUCKET.fullmatch(bucket):
        raise UserError.at(
            "--bucket",
            bucket,
            "use letters, digits, '-', '_' and '.', starting with a letter or digit",
        )
    return bucket


def check_prefix(prefix: str) -> str:
    if prefix.strip("/") and not _PREFIX.fullmatch(prefix.strip("/")):
        raise UserError.at(
            "--prefix",
            prefix,
            "use path segments of letters, digits, '-', '_' and '.', such as "
            "deepseek-ai/DeepSeek-R1",
        )
    return prefix


def check_endpoint(url: str) -> str:
    try:
        u = urllib.parse.urlsplit(url)
        ok = u.scheme in ("http", "https") and bool(u.hostname) and (u.port or 1) > 0
    except ValueError:  # an unclosed IPv6 bracket, a port that is no number or out of range
        ok = False
    if not ok or any(c.isspace() for c in url):
        raise UserError.at(
            "--endpoint-url", url, "not a URL; give https://HOST[:PORT] of an S3 endpoint"
        )
    return url


def _attempts() -> int:
    raw = os.environ.get("AWS_MAX_ATTEMPTS", "")
    if not raw:
        return ATTEMPTS
    if not raw.isdigit() or int(raw) < 1:
        raise UserError.at("AWS_MAX_ATTEMPTS", raw, "give a whole number of attempts, 1 or more")
    return int(raw)


def client(
    *,
    region: str | None,
    namespace: str | None,
    endpoint_url: str | None,
    workers: int = 16,
) -> Any:
    """An S3 client for the bucket's endpoint; UserError names what is missing."""
    if endpoint_url is None:
        if not (region and namespace):
            raise UserError(
                "--region and --namespace are required without --endpoint-url; find the "
                "namespace with `oci os ns get`"
            )
        endpoint_url = oci_endpoint(region, namespace)
    check_endpoint(endpoint_url)
    missing = [v for v in KEY_VARS if not os.environ.get(v)]
    if missing:
        raise UserError(
            f"{' and '.join(missing)} not set; export an OCI Customer Secret Key's access key "
            "and secret (Identity > your user > Customer Secret Keys)"
        )
    config = Config(
        s3={"addressing_style": "path"},
        signature_version="s3v4",
        retries={"max_attempts": _attempts(), "mode": "standard"},
        connect_timeout=10,
        max_pool_connections=max(10, workers * 2),
        # boto3 >= 1.36 adds CRC checksums (and aws-chunked bodies) to uploads by default, which
        # OCI's S3 compatibility layer rejects (activepieces/activepieces issue 14110; boto/boto3
        # issue 4392): send them only where an API requires one (boto/s3transfer PR 329).
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    try:
        return boto3.client(
            "s3", endpoint_url=endpoint_url, region_name=region or "us-east-1", config=config
        )
    except (BotoCoreError, ValueError) as err:  # what check_endpoint could not foresee
        raise UserError.at("--endpoint-url", endpoint_url, f"{err}") from None


def says(err: Exception) -> str:
    """What went wrong, in a few words: the service's code and message, or botocore's."""
    if isinstance(err, ClientError):
        e = err.response.get("Error", {})
        return f"{e.get('Code', '?')}: {e.get('Message', '')}".rstrip(": ")
    cause = err
    # s3transfer wraps the real error (S3UploadFailedError: "Failed to upload ... : <cause>").
    while cause.__cause__ is not None and isinstance(cause, Boto3Error):
        cause = cause.__cause__  # type: ignore[assignment]
    return " ".join(str(cause).split()) or type(cause).__name__


@contextmanager
def talking_to(s3: Any, bucket: str, doing: str) -> Iterator[None]:
    """Any failure of the calls inside, as one line naming the bucket and the endpoint."""
    try:
        yield
    except ClientError as err:
        raise UserError(f"--bucket = {bucket!r}: {doing} failed, {says(err)}") from None
    except (BotoCoreError, Boto3Error, TransferNotDoneError, OSError) as err:
        where = getattr(getattr(s3, "meta", None), "endpoint_url", "the endpoint")
        raise UserError(
            f"--bucket = {bucket!r}: {doing} failed, {says(err)}; check --endpoint-url "
            f"({where}), the network, and that the service is up, then run it again"
        ) from None
