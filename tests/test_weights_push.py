"""`gpuform weights push` and `ls` as a hostile user drives them (issue 17): bad names and
endpoints, a dead or killed server, and a bucket whose objects no longer match its manifest.
Every failure is one `gpuform:` line and exit 2; nothing says `complete` that is not."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from rich.console import Console

from infra.errors import UserError
from infra.weights import fetch
from infra.weights.manifest import NAME
from infra.weights.push import push
from tests.conftest import GPUFORM, CliResult, run_cli
from tests.weights.data import MiB, model_dir, same_tree
from tests.weights.moto import CREDENTIALS, S3Server, free_port, moto_server

PREFIX = "org/model"
FETCH = Path(fetch.__file__)


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with moto_server() as server:
        yield server


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in CREDENTIALS.items():
        monkeypatch.setenv(k, v)
    # Two tries against a dead endpoint, not ten: the tests wait less, the path is the same.
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")


def _one_line(r: CliResult) -> str:
    assert r.code == 2, r
    assert "Traceback" not in r.stderr, r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("gpuform: "), line
    return line


def _push(url: str, src: Path, bucket: str, *extra: str) -> CliResult:
    return run_cli(
        ["weights", "push", str(src), "--bucket", bucket, "--prefix", PREFIX,
         "--endpoint-url", url, "--part-size-mb", "5", "--workers", "4", *extra]
    )  # fmt: skip


def _ls(url: str, bucket: str) -> CliResult:
    return run_cli(["weights", "ls", "--bucket", bucket, "--prefix", PREFIX, "--endpoint-url", url])


# --- one line, exit 2 ---------------------------------------------------------------------------


@pytest.mark.parametrize("bucket", ["bad bucket!", "weights\n", "-x", "a" * 257])
def test_a_bad_bucket_name_is_one_line(tmp_path: Path, s3: S3Server, bucket: str) -> None:
    src = model_dir(tmp_path / "m", files=1, big_mb=0)
    for r in (_push(s3.url, src, bucket), _ls(s3.url, bucket)):
        line = _one_line(r)
        assert line.startswith(f"gpuform: --bucket = {bucket!r}: use letters, digits"), line


@pytest.mark.parametrize(
    "url", ["not a url", "ftp://127.0.0.1/x", "http://", "http://[::1", "http://127.0.0.1:99999"]
)
def test_a_malformed_endpoint_url_is_one_line(tmp_path: Path, url: str) -> None:
    src = model_dir(tmp_path / "m", files=1, big_mb=0)
    for r in (_push(url, src, "weights"), _ls(url, "weights")):
        line = _one_line(r)
        assert f"--endpoint-url = {url!r}: not a URL" in line, line


def test_a_dead_endpoint_is_one_line_before_any_hashing(tmp_path: Path) -> None:
    src = model_dir(tmp_path / "m", files=2, big_mb=1)
    dead = f"http://127.0.0.1:{free_port('127.0.0.1')}"
    t0 = time.monotonic()
    for r in (_push(dead, src, "weights"), _ls(dead, "weights")):
        line = _one_line(r)
        assert line.startswith("gpuform: --bucket = 'weights': "), line
        assert "Could not connect to the endpoint URL" in line and f"({dead})" in line, line
    assert time.monotonic() - t0 < 60


def test_a_bucket_that_does_not_exist_is_one_line(tmp_path: Path, s3: S3Server) -> None:
    src = model_dir(tmp_path / "m", files=1, big_mb=0)
    line = _one_line(_push(s3.url, src, "nobody-made-this"))
    assert line.startswith("gpuform: --bucket = 'nobody-made-this': opening the bucket failed, ")


def test_a_server_killed_mid_push_is_one_line(tmp_path: Path) -> None:
    src = model_dir(tmp_path / "m", files=30, big_mb=80, seed=9)
    with moto_server() as server:
        server.bucket("killed")
        cmd = [str(GPUFORM), "weights", "push", str(src), "--bucket", "killed", "--prefix", PREFIX,
               "--endpoint-url", server.url, "--part-size-mb", "5", "--workers", "2"]  # fmt: skip
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        client = server.client()
        deadline = time.monotonic() + 60
        # Mid-upload: a multipart upload of the big file has begun and has not finished.
        while not client.list_multipart_uploads(Bucket="killed").get("Uploads"):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.02)
        moto_pid = _moto_pid(server.url)
        os.kill(moto_pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=90)
    line = _one_line(CliResult(proc.returncode, out, err))
    assert line.startswith("gpuform: --bucket = 'killed': uploading failed, "), line
    assert "check --endpoint-url" in line


def _moto_pid(url: str) -> int:
    port = url.rsplit(":", 1)[1]
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    (pid,) = [
        ln.split()[0] for ln in out.splitlines() if "moto.server" in ln and f"-p {port}" in ln
    ]
    return int(pid)


# --- no wrong success -----------------------------------------------------------------------


def _changed(path: Path, seed: int) -> bytes:
    """Other bytes of the same size: only a hash can tell them apart."""
    return random.Random(seed).randbytes(path.stat().st_size)


def test_an_interrupted_re_push_is_finished_by_the_next_push_and_ls_says_so(
    s3: S3Server, tmp_path: Path
) -> None:
    src = model_dir(tmp_path / "model", files=6, big_mb=6, seed=21)
    base = s3.bucket("repush")
    assert _push(s3.url, src, "repush").code == 0
    # A re-push of other bytes, killed after two uploads finished and before its manifest:
    # those objects (each with its own sha256 recorded) now differ from the manifest.
    client = s3.client()
    for name in ("model-big.safetensors", "config.json"):
        body = _changed(src / name, 5)
        client.put_object(
            Bucket="repush", Key=f"{PREFIX}/{name}", Body=body,
            Metadata={"sha256": hashlib.sha256(body).hexdigest()},
        )  # fmt: skip
    listed = _ls(s3.url, "repush")
    assert listed.code == 0, listed
    assert "complete" not in listed.stdout.replace("incomplete", ""), listed.stdout
    assert listed.stdout.count("sha256 differs") == 2, listed.stdout
    assert "incomplete: objects differ from it; run `gpuform weights push` again" in listed.stdout
    # The same folder pushed again: the two objects go up again, not "already there".
    again = _push(s3.url, src, "repush")
    assert again.code == 0, again
    assert "pushed 2 file(s)" in again.stdout and "7 already there" in again.stdout, again.stdout
    listed = _ls(s3.url, "repush")
    assert "sha256 differs" not in listed.stdout
    assert listed.stdout.rstrip().endswith(", complete"), listed.stdout
    dest = tmp_path / "cache"
    pulled = subprocess.run(
        [sys.executable, str(FETCH), "--base-url", base, "--prefix", PREFIX, "--dest", str(dest),
         "--procs", "1", "--workers", "4", "--chunk-mb", "1", "--auth-wait", "0"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert pulled.returncode == 0, pulled.stderr
    assert same_tree(src, dest) == []


def test_a_push_that_must_replace_objects_withdraws_the_old_manifest_first(
    s3: S3Server, tmp_path: Path
) -> None:
    src = model_dir(tmp_path / "model", files=3, big_mb=1, seed=22)
    s3.bucket("withdraw")
    assert _push(s3.url, src, "withdraw").code == 0
    (src / "config.json").write_bytes(_changed(src / "config.json", 6))
    client = s3.client()

    def refuse(params: dict[str, Any], **_: Any) -> None:
        # The endpoint refuses the object upload, as a server dying part-way would.
        if not params["Key"].endswith(NAME):
            raise ClientError({"Error": {"Code": "InternalError", "Message": "gone"}}, "PutObject")

    client.meta.events.register("before-parameter-build.s3.PutObject", refuse)
    with pytest.raises(UserError, match="uploading failed, InternalError: gone"):
        push(client, src, "withdraw", PREFIX, console=Console(quiet=True))
    # Nothing is left that claims the old bytes are what the prefix holds.
    listed = _ls(s3.url, "withdraw")
    assert "no manifest: push has not finished here" in listed.stdout, listed.stdout


def test_objects_of_the_same_size_from_another_tool_are_not_ok(
    s3: S3Server, tmp_path: Path
) -> None:
    src = model_dir(tmp_path / "model", files=2, big_mb=0, seed=23)
    s3.bucket("othertool")
    assert _push(s3.url, src, "othertool").code == 0
    name = "shard-001.bin"
    s3.client().put_object(Bucket="othertool", Key=f"{PREFIX}/{name}", Body=_changed(src / name, 7))
    listed = _ls(s3.url, "othertool")
    assert "no sha256 recorded" in listed.stdout and "incomplete" in listed.stdout, listed.stdout
    again = _push(s3.url, src, "othertool")
    assert "pushed 1 file(s)" in again.stdout, again


def test_a_broken_manifest_in_the_bucket_is_one_line_for_ls(s3: S3Server) -> None:
    s3.bucket("brokenls")
    s3.client().put_object(
        Bucket="brokenls", Key=f"{PREFIX}/gpuform-manifest.json",
        Body=b'{"format": "gpuform-weights/1", "files": [{"name": "a", "size": "abc"}]}',
    )  # fmt: skip
    line = _one_line(_ls(s3.url, "brokenls"))
    assert line.startswith(f"gpuform: s3://brokenls/{PREFIX}/gpuform-manifest.json: not a "), line
    assert "the size 'abc'" in line


def test_a_second_push_of_the_same_folder_uploads_nothing(s3: S3Server, tmp_path: Path) -> None:
    src = model_dir(tmp_path / "model", files=4, big_mb=6, seed=24)
    s3.bucket("same")
    assert _push(s3.url, src, "same").code == 0
    again = _push(s3.url, src, "same")
    assert "pushed 0 file(s)" in again.stdout and "7 already there" in again.stdout, again
    assert (src / "model-big.safetensors").stat().st_size > 5 * MiB
