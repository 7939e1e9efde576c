"""A boto3 client for OCI Object Storage's S3-compatible API (or any S3 endpoint).

OCI serves the S3 API at https://NAMESPACE.compat.objectstorage.REGION.oraclecloud.com,
path-style only, signed with a Customer Secret Key (an access key id and secret that an OCI user
creates, at most two each) which boto3 reads from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
from botocore.config import Config

from ..errors import UserError

KEY_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def oci_endpoint(region: str, namespace: str) -> str:
    return f"https://{namespace}.compat.objectstorage.{region}.oraclecloud.com"


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
    missing = [v for v in KEY_VARS if not os.environ.get(v)]
    if missing:
        raise UserError(
            f"{' and '.join(missing)} not set; export an OCI Customer Secret Key's access key "
            "and secret (Identity > your user > Customer Secret Keys)"
        )
    config = Config(
        s3={"addressing_style": "path"},
        signature_version="s3v4",
        retries={"max_attempts": 10, "mode": "standard"},
        max_pool_connections=max(10, workers * 2),
        # boto3 >= 1.36 adds CRC checksums (and aws-chunked bodies) to uploads by default, which
        # OCI's S3 compatibility layer rejects (activepieces/activepieces issue 14110; boto/boto3
        # issue 4392): send them only where an API requires one (boto/s3transfer PR 329).
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return boto3.client(
        "s3", endpoint_url=endpoint_url, region_name=region or "us-east-1", config=config
    )
