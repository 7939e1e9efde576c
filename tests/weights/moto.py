"""moto's S3 server as a subprocess on one address, started and stopped by the tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3

#: moto accepts any key pair; these only have to be present, as OCI's would.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "gpuform-test", "AWS_SECRET_ACCESS_KEY": "gpuform-test"}


@dataclass(frozen=True)
class S3Server:
    url: str

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def bucket(self, name: str, public_read: bool = True) -> str:
        """A new bucket; readable without a signature like a PAR's bucket when `public_read`.

        Returns the base URL objects are fetched under (what a PAR's URL is on OCI).
        """
        s3 = self.client()
        s3.create_bucket(Bucket=name)
        if public_read:
            statement = {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{name}/*",
            }
            policy = {"Version": "2012-10-17", "Statement": [statement]}
            s3.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))
        return f"{self.url}/{name}/"


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def moto_server(
    host: str = "127.0.0.1", port: int = 0, wrap: Sequence[str] = ()
) -> Iterator[S3Server]:
    """moto's server on host:port until the block ends; `wrap` prefixes the command
    (`ip netns exec NS`, to serve inside a namespace)."""
    port = port or free_port(host)
    cmd = [*wrap, sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)]
    env = {**os.environ, "MOTO_CALL_RESET_API": "false"}
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read() if proc.stderr else b""
                raise RuntimeError(f"moto did not start: {err.decode()[-2000:]}")
            if _answers(host, port, wrap):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("moto did not answer within 30s")
            time.sleep(0.1)
        yield S3Server(f"http://{host}:{port}")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _answers(host: str, port: int, wrap: Sequence[str]) -> bool:
    if wrap:  # inside another namespace: ask from there
        probe = f"import socket; socket.create_connection(({host!r}, {port}), 1).close()"
        return (
            subprocess.run([*wrap, sys.executable, "-c", probe], capture_output=True).returncode
            == 0
        )
    try:
        socket.create_connection((host, port), 1).close()
        return True
    except OSError:
        return False
