"""A weight bucket on a booted stack's private network: moto's S3 server inside the harness's
switch namespace, bound to the bridge's own address, plus stand-ins that let the engine unit
start in a container without GPUs or docker, so the test can see *when* it starts.

Nothing here listens outside the harness's namespaces: moto binds the bridge address inside
the switch namespace, which has no link to the host's.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from ipaddress import IPv4Interface, IPv4Network
from pathlib import Path

from .moto import CREDENTIALS, moto_server

REPO = Path(__file__).resolve().parents[2]
PORT = 9000
ENGINE_RECORD = "/var/lib/gpuform-test/engine-run"

#: Stand-ins seeded into each node's root (path -> (mode, content)). The engine's `docker run`
#: records its arguments and the time, then answers /v1/models where the engine would.
STUBS: dict[str, tuple[int, str]] = {
    "usr/local/bin/nvidia-smi": (
        0o755,
        "#!/bin/sh\n# gpuform boot test stand-in: one GPU.\n"
        'echo "GPU 0: NVIDIA A10 (UUID: GPU-00000000-gpuform-test)"\n',
    ),
    "usr/local/bin/nvidia-ctk": (0o755, "#!/bin/sh\nexit 0\n"),
    "usr/local/bin/docker": (
        0o755,
        "#!/bin/bash\n# gpuform boot test stand-in for docker.\n"
        '[ "$1" = run ] || exit 0\n'
        "mkdir -p /var/lib/gpuform-test/www/v1\n"
        "{ date +%s.%N; printf '%s\\n' \"$@\"; } >" + ENGINE_RECORD + "\n"
        "echo '{\"data\": []}' >/var/lib/gpuform-test/www/v1/models\n"
        'port=8000; prev=""; for a in "$@"; do [ "$prev" = --port ] && port=$a; prev=$a; done\n'
        'exec python3 -m http.server "$port" --bind 127.0.0.1 '
        "--directory /var/lib/gpuform-test/www\n",
    ),
    "etc/systemd/system/docker.service": (
        0o644,
        "[Unit]\nDescription=gpuform boot test: stand-in for docker\n\n"
        "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n\n"
        "[Install]\nWantedBy=multi-user.target\n",
    ),
}


def bridge_address(subnet: IPv4Network) -> IPv4Interface:
    """The switch's own address on the private subnet: its last usable host."""
    return IPv4Interface(f"{subnet.broadcast_address - 1}/{subnet.prefixlen}")


@dataclass
class WeightBucket:
    """moto on the bridge, a bucket readable like a PAR's, and `model` pushed to it."""

    subnet: IPv4Network
    model: Path
    prefix: str
    bucket: str = "weights"
    corrupt: str | None = None
    """A file whose object is overwritten with the same size, different bytes, after the push."""
    pushed: list[str] = field(default_factory=list)

    @property
    def address(self) -> IPv4Interface:
        return bridge_address(self.subnet)

    @property
    def weights_url(self) -> str:
        return f"http://{self.address.ip}:{PORT}/{self.bucket}/"

    @contextmanager
    def serve(self, switch_netns: str) -> Iterator[object]:
        ns = ("ip", "netns", "exec", switch_netns)
        subprocess.run(
            ["ip", "-n", switch_netns, "addr", "add", str(self.address), "dev", "br0"], check=True
        )
        with moto_server(str(self.address.ip), PORT, wrap=ns) as s3:
            self._run(ns, self._setup(s3.url))
            yield s3

    def seed(self, root: Path) -> None:
        for rel, (mode, content) in STUBS.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            path.chmod(mode)

    def _setup(self, url: str) -> str:
        corrupt = ""
        if self.corrupt:
            corrupt = (
                f"body = bytearray(open({str(self.model / self.corrupt)!r}, 'rb').read())\n"
                "body[-1] ^= 0xFF\n"
                f"s3.put_object(Bucket={self.bucket!r}, Key={self.prefix + '/' + self.corrupt!r},"
                " Body=bytes(body))\n"
            )
        return (
            "import json, os, subprocess, sys\n"
            "sys.path.insert(0, os.getcwd())\n"
            "from tests.weights.moto import S3Server\n"
            f"s3 = S3Server({url!r}).client()\n"
            f"S3Server({url!r}).bucket({self.bucket!r})\n"
            "r = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'gpuform'),"
            f" 'weights', 'push', {str(self.model)!r}, '--bucket', {self.bucket!r},"
            f" '--prefix', {self.prefix!r}, '--endpoint-url', {url!r}],"
            " capture_output=True, text=True)\n"
            "assert r.returncode == 0, r.stderr\n" + corrupt
        )

    def _run(self, ns: tuple[str, ...], script: str) -> None:
        r = subprocess.run(
            [*ns, sys.executable, "-c", script],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            env={"PATH": "/usr/bin:/bin", **CREDENTIALS},
        )
        if r.returncode != 0:
            raise RuntimeError(f"setting up the bucket failed: {r.stderr[-2000:]}")
