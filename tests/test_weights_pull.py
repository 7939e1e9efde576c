"""Push and pull against a real S3 endpoint (moto's server on loopback): byte-exact round trip,
a pull killed with SIGKILL that resumes, corrupted objects that are fetched again or refused."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.render.weights_part import shipped_fetcher
from infra.weights import fetch
from infra.weights.manifest import NAME
from tests.conftest import CliResult, run_cli
from tests.weights.data import MiB, model_dir, same_tree
from tests.weights.hub import Hub, fake_hub
from tests.weights.moto import CREDENTIALS, S3Server, moto_server
from tests.weights.proxy import proxy
from tests.weights.pythons import PY36

FETCH = Path(fetch.__file__)
PREFIX = "org/model"


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with moto_server() as server:
        yield server


@pytest.fixture(scope="module")
def pushed(s3: S3Server, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A model folder pushed with the CLI; the bucket's base URL (readable like a PAR)."""
    src = model_dir(tmp_path_factory.mktemp("src") / "model")
    base = s3.bucket("weights")
    r = _push(s3, src)
    assert r.code == 0, r.stderr
    return src, base


def _push(s3: S3Server, src: Path, bucket: str = "weights") -> CliResult:
    env_args = ["--endpoint-url", s3.url, "--part-size-mb", "5", "--workers", "8"]
    os.environ.update(CREDENTIALS)
    return run_cli(["weights", "push", str(src), "--bucket", bucket, "--prefix", PREFIX, *env_args])


def _pull(base: str, dest: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    args = ["--base-url", base, "--prefix", PREFIX, "--dest", str(dest)]
    args += ["--log", str(dest.parent / "pull.log"), "--state", str(dest.parent / "state.json")]
    # Two processes of two threads: the forked path (every node with 4+ cores takes it).
    args += ["--workers", "4", "--procs", "2", "--chunk-mb", "1", "--auth-wait", "0", *extra]
    return subprocess.run(
        [sys.executable, str(FETCH), *args], capture_output=True, text=True, timeout=120
    )


def test_push_then_pull_is_byte_exact(pushed: tuple[Path, str], tmp_path: Path) -> None:
    src, base = pushed
    assert (src / "model-big.safetensors").stat().st_size > 5 * MiB  # more than one part
    dest = tmp_path / "cache"
    r = _pull(base, dest)
    assert r.returncode == 0, (r.stderr, (tmp_path / "pull.log").read_text())
    assert r.stdout.startswith("gpuform: weights: ") and "verified" in r.stdout
    assert r.stderr == ""
    assert same_tree(src, dest) == []
    assert not (tmp_path / "cache.partial").exists()
    verified = run_cli(["weights", "verify", str(dest)])
    assert verified.code == 0 and "verified" in verified.stdout, verified.stderr


def test_a_second_push_uploads_only_what_changed(s3: S3Server, tmp_path: Path) -> None:
    src = model_dir(tmp_path / "model", files=8, big_mb=6, seed=3)
    s3.bucket("again")
    first = _push(s3, src, "again")
    assert first.code == 0 and "pushed 11 file(s)" in first.stdout, first
    again = _push(s3, src, "again")
    assert "pushed 0 file(s)" in again.stdout and "11 already there" in again.stdout, again
    (src / "config.json").write_text('{"model_type": "qwen2"}\n')
    changed = _push(s3, src, "again")
    assert "pushed 1 file(s)" in changed.stdout, changed
    listed = run_cli(["weights", "ls", "--bucket", "again", "--prefix", PREFIX,
                      "--endpoint-url", s3.url])  # fmt: skip
    assert listed.code == 0 and "11 file(s)" in listed.stdout, listed
    assert listed.stdout.rstrip().endswith(", complete"), listed.stdout


def test_a_pull_killed_part_way_resumes_and_ends_verified(
    pushed: tuple[Path, str], tmp_path: Path
) -> None:
    src, base = pushed
    dest = tmp_path / "cache"
    with proxy(base.rsplit("/", 2)[0], delay_s=0.2) as slow:
        args = ["--base-url", f"{slow}/weights/", "--prefix", PREFIX, "--dest", str(dest)]
        args += ["--log", str(tmp_path / "pull.log"), "--workers", "2", "--chunk-mb", "1"]
        args += ["--procs", "2"]
        proc = subprocess.Popen([sys.executable, str(FETCH), *args])
        done = tmp_path / "cache.partial" / "model-big.safetensors.part.done"
        deadline = time.monotonic() + 60
        while not (done.is_file() and len(done.read_text().split()) >= 3):
            assert proc.poll() is None and time.monotonic() < deadline, "pull ended too early"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    had = len(done.read_text().split())
    r = _pull(base, dest)
    assert r.returncode == 0, (r.stderr, (tmp_path / "pull.log").read_text())
    log = (tmp_path / "pull.log").read_text()
    assert f"model-big.safetensors: resuming, {had} of 13 ranges there" in log
    assert same_tree(src, dest) == []


def test_a_corrupted_transfer_is_fetched_again(pushed: tuple[Path, str], tmp_path: Path) -> None:
    src, base = pushed
    hits: list[str] = []

    def flip_once(path: str, body: bytes) -> bytes:
        if path.endswith("/config.json") and not hits:
            hits.append(path)
            return bytes([body[0] ^ 0xFF]) + body[1:]
        return body

    dest = tmp_path / "cache"
    with proxy(base.rsplit("/", 2)[0], mangle=flip_once) as bad:
        r = _pull(f"{bad}/weights/", dest)
    assert r.returncode == 0, r.stderr
    log = (tmp_path / "pull.log").read_text()
    assert "config.json failed verification: sha256" in log and "round 2" in log
    assert same_tree(src, dest) == []


def test_a_corrupted_cache_file_is_detected_and_replaced(
    pushed: tuple[Path, str], tmp_path: Path
) -> None:
    src, base = pushed
    dest = tmp_path / "cache"
    assert _pull(base, dest).returncode == 0
    shard = dest / "shard-001.bin"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0x01
    shard.write_bytes(bytes(data))
    assert run_cli(["weights", "verify", str(dest)]).code == 2
    r = _pull(base, dest)
    assert r.returncode == 0, r.stderr
    assert "shard-001.bin: sha256" in (tmp_path / "pull.log").read_text()
    assert same_tree(src, dest) == []


def test_bit_rot_in_a_warm_cache_is_found_though_size_and_mtime_are_unchanged(
    pushed: tuple[Path, str], tmp_path: Path
) -> None:
    """Bit rot keeps a file's size and mtime: the second pull must hash it, not trust stamps."""
    src, base = pushed
    dest = tmp_path / "cache"
    assert _pull(base, dest).returncode == 0
    shard = dest / "model-big.safetensors"
    st = shard.stat()
    with shard.open("r+b") as fh:
        fh.seek(st.st_size // 3)
        byte = fh.read(1)
        fh.seek(st.st_size // 3)
        fh.write(bytes([byte[0] ^ 0x01]))
    os.utime(shard, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert shard.stat().st_mtime_ns == st.st_mtime_ns
    r = _pull(base, dest)
    assert r.returncode == 0, r.stderr
    assert "model-big.safetensors: sha256" in (tmp_path / "pull.log").read_text()
    assert "fetched 0.01 GB" in r.stdout, r.stdout  # the rotten file alone came again
    assert same_tree(src, dest) == []


@pytest.mark.parametrize(
    ("manifest", "why"),
    [
        ({"format": "gpuform-weights/1"}, "it has no list of files"),
        ({"format": "gpuform-weights/1", "files": [{"name": "a", "size": "abc"}]},
         "it gives a the size 'abc'"),
        ({"format": "gpuform-weights/1", "files": [{"name": "a", "size": 3}]}, "gives a no sha256"),
        ({"format": "gpuform-weights/1", "files": [None]}, "files[0] is not an object"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("warm", [True, False], ids=["warm-cache", "fresh-cache"])
def test_a_broken_manifest_in_the_bucket_fails_in_one_line_naming_it(
    s3: S3Server, tmp_path: Path, manifest: dict[str, object], why: str, warm: bool
) -> None:
    """Not "verified" against the old cached manifest, nor "cannot reach the bucket"."""
    name = f"broken-{len(why)}-{warm}".lower()
    src = model_dir(tmp_path / "model", files=2, big_mb=0, seed=8)
    base = s3.bucket(name)
    assert _push(s3, src, name).code == 0
    dest = tmp_path / "cache"
    if warm:
        assert _pull(base, dest).returncode == 0
    s3.client().put_object(Bucket=name, Key=f"{PREFIX}/{NAME}", Body=json.dumps(manifest).encode())
    r = _pull(base, dest)
    assert r.returncode == 1 and r.stdout == "", r.stdout
    (line,) = r.stderr.splitlines()
    assert line.startswith(f"gpuform: weights: {NAME} in {base}{PREFIX}/{NAME} is broken: "), line
    assert why in line and "run `gpuform weights push` again" in line, line
    assert "cannot reach" not in line


def test_a_corrupt_object_in_the_bucket_is_never_served(s3: S3Server, tmp_path: Path) -> None:
    src = model_dir(tmp_path / "model", files=4, big_mb=1, seed=5)
    base = s3.bucket("corrupt")
    assert _push(s3, src, "corrupt").code == 0
    body = bytearray((src / "model-big.safetensors").read_bytes())
    body[-1] ^= 0xFF  # same size, different bytes: only the hash can tell
    s3.client().put_object(
        Bucket="corrupt", Key=f"{PREFIX}/model-big.safetensors", Body=bytes(body)
    )
    dest = tmp_path / "cache"
    r = _pull(base, dest)
    assert r.returncode == 1 and r.stdout == ""
    (line,) = r.stderr.splitlines()
    assert line.startswith("gpuform: weights: model-big.safetensors failed verification: sha256")
    assert not (dest / "model-big.safetensors").exists()
    assert not (tmp_path / "cache.partial" / "model-big.safetensors.part").exists()


def test_a_missing_manifest_is_one_line(s3: S3Server, tmp_path: Path) -> None:
    base = s3.bucket("empty")
    r = _pull(base, tmp_path / "cache")
    assert r.returncode == 1
    (line,) = r.stderr.splitlines()
    assert "has no gpuform-manifest.json (HTTP 404); run `gpuform weights push` first" in line


def test_the_hub_manifest_verifies_git_blobs_and_lfs_sha256(tmp_path: Path) -> None:
    info = {
        "sha": "abc123",
        "siblings": [
            {"rfilename": ".gitattributes", "size": 10, "blobId": "x"},
            {"rfilename": "config.json", "size": 3, "blobId": "e4ec0e4a"},
            {"rfilename": "model.safetensors", "size": 4,
             "lfs": {"sha256": "ab" * 32, "size": 4}},
            {"rfilename": "pytorch_model.bin", "size": 4, "lfs": {"sha256": "cd" * 32, "size": 4}},
            {"rfilename": "original/consolidated.00.pth", "size": 4,
             "lfs": {"sha256": "ef" * 32, "size": 4}},
        ],
    }  # fmt: skip
    entries = fetch.hub_entries(info)
    assert [e.name for e in entries] == ["config.json", "model.safetensors"]
    (tmp_path / "config.json").write_bytes(b"{}\n")
    e = entries[0]._replace(git_sha1="e0e1b3e1c5e2a1a5b6e5b9b5ab0e0e2f2a8e3d1b")
    # git hash-object of "{}\n": sha1("blob 3\0{}\n")
    import hashlib

    want = hashlib.sha1(b"blob 3\x00{}\n").hexdigest()
    assert fetch.verify_file(str(tmp_path / "config.json"), e._replace(git_sha1=want)) is None
    assert "git sha1" in (fetch.verify_file(str(tmp_path / "config.json"), e) or "")


def test_the_manifest_is_what_the_pull_reads(pushed: tuple[Path, str], s3: S3Server) -> None:
    body = s3.client().get_object(Bucket="weights", Key=f"{PREFIX}/{NAME}")["Body"].read()
    entries = fetch.entries_from(json.loads(body))
    src, _ = pushed
    assert {e.name for e in entries} == {
        p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file()
    }


@pytest.mark.skipif(PY36 is None, reason="no Python 3.6 interpreter here")
def test_the_shipped_pull_runs_on_python_3_6(pushed: tuple[Path, str], tmp_path: Path) -> None:
    """Oracle Linux 8's python3 is 3.6: the copy nodes get must run there, stdlib only."""
    src, base = pushed
    script = tmp_path / "weights-fetch.py"
    script.write_text(shipped_fetcher())
    dest = tmp_path / "cache"
    args = ["--base-url", base, "--prefix", PREFIX, "--dest", str(dest), "--chunk-mb", "1"]
    r = subprocess.run(
        [str(PY36), "-I", str(script), *args], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    assert same_tree(src, dest) == []


# --- the hub: a private or gated repo's token, to the hub and to nothing else ------------------

TOKEN = "hf_gpuformTestToken0123456789abcdef"
HUB_MODEL = "org/private-rl-ckpt"


def _hub_files(root: Path) -> Path:
    """A hub repo's files: small ones kept in git, safetensors shards in LFS (over 1 MiB)."""
    rng = random.Random(11)
    (root / "tokenizer").mkdir(parents=True)
    (root / "config.json").write_text('{"model_type": "qwen2"}\n')
    (root / "tokenizer" / "tokenizer.json").write_bytes(rng.randbytes(40_000))
    (root / "model-00001-of-00002.safetensors").write_bytes(rng.randbytes(2 * MiB + 777))
    (root / "model-00002-of-00002.safetensors").write_bytes(rng.randbytes(700_000))
    return root


def _hub_pull(
    hub: Hub, model: str, dest: Path, token_file: Path | None, python: str = sys.executable
) -> subprocess.CompletedProcess[str]:
    args = ["--hub", model, "--hub-endpoint", hub.url, "--dest", str(dest), "--auth-wait", "0"]
    args += ["--log", str(dest.parent / "pull.log"), "--workers", "4", "--chunk-mb", "1"]
    args += ["--procs", "2"]
    if token_file is not None:
        args += ["--hub-token-file", str(token_file)]
    script = dest.parent / "weights-fetch.py"
    script.write_text(shipped_fetcher())  # the copy nodes run
    return subprocess.run(
        [python, str(script), *args], capture_output=True, text=True, timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HTTP", "http"))},
    )  # fmt: skip


def _token_file(tmp_path: Path, token: str = TOKEN) -> Path:
    path = tmp_path / "hub-token.env"
    path.write_text(f"HF_TOKEN={token}\n")
    path.chmod(0o600)
    return path


PYTHONS = [sys.executable, *([str(PY36)] if PY36 else [])]


@pytest.mark.parametrize("python", PYTHONS, ids=lambda p: Path(p).name)
def test_the_hub_token_goes_to_the_hub_and_never_along_a_redirect_to_another_host(
    tmp_path: Path, python: str
) -> None:
    src = _hub_files(tmp_path / "repo")
    dest = tmp_path / "cache"
    # The stack names the repo by its old id: the hub redirects to the new one on itself first.
    with fake_hub(HUB_MODEL, src, TOKEN, renamed_from="org/old-name") as hub:
        r = _hub_pull(hub, "org/old-name", dest, _token_file(tmp_path), python)
    assert r.returncode == 0, (r.stderr, (tmp_path / "pull.log").read_text())
    assert same_tree(src, dest) == []
    # Every request to the hub carried the token, redirected ones within the hub included.
    assert hub.hub_seen.requests
    assert {auth for _, auth in hub.hub_seen.requests} == {f"Bearer {TOKEN}"}
    renamed = [p for p, _ in hub.hub_seen.requests if p.startswith(f"/{HUB_MODEL}/resolve/")]
    assert renamed, hub.hub_seen.requests
    # The LFS shards came from the CDN (ranged: 3 + 1 ranges of 1 MiB), without the token.
    assert len(hub.cdn_seen.requests) >= 4
    assert [auth for _, auth in hub.cdn_seen.requests] == [None] * len(hub.cdn_seen.requests)
    # Nothing the pull prints or logs holds the token.
    for text in (r.stdout, r.stderr, (tmp_path / "pull.log").read_text()):
        assert TOKEN not in text


def test_the_token_is_for_the_hubs_own_origin_alone() -> None:
    # Another port of the same host is another origin (RFC 6454), as is http for https.
    assert fetch._origin("https://huggingface.co/a") == fetch._origin("https://HuggingFace.co/b")
    assert fetch._origin("http://127.0.0.1:1/x") != fetch._origin("http://127.0.0.1:2/x")
    assert fetch._origin("https://hf.co/x") != fetch._origin("http://hf.co/x")
    sign = fetch._bearer("https://huggingface.co", TOKEN)
    assert sign("https://huggingface.co/m/resolve/r/f", {}) == {"Authorization": f"Bearer {TOKEN}"}
    assert sign("https://cdn-lfs.hf.co/blob", {"Range": "bytes=0-1"}) == {"Range": "bytes=0-1"}


def test_a_gated_repo_without_a_token_fails_in_one_line_that_says_a_token_is_needed(
    tmp_path: Path,
) -> None:
    src = _hub_files(tmp_path / "repo")
    with fake_hub(HUB_MODEL, src, TOKEN) as hub:
        r = _hub_pull(hub, HUB_MODEL, tmp_path / "cache", None)
    assert r.returncode == 1 and r.stdout == ""
    (line,) = r.stderr.splitlines()
    assert line.startswith("gpuform: weights: the model hub refused access (HTTP 401); ")
    assert f"{HUB_MODEL} needs a hub token if private or gated" in line
    assert "Model(hub_token=True)" in line and "OCI Vault" in line
    assert {auth for _, auth in hub.hub_seen.requests} == {None}


def test_a_gated_models_files_without_a_token_fail_in_one_line_too(tmp_path: Path) -> None:
    # A gated model lists its files to anyone; only the downloads answer 401.
    src = _hub_files(tmp_path / "repo")
    with fake_hub(HUB_MODEL, src, TOKEN, listed=True) as hub:
        r = _hub_pull(hub, HUB_MODEL, tmp_path / "cache", None)
    assert r.returncode == 1
    (line,) = r.stderr.splitlines()
    assert line.startswith("gpuform: weights: cannot fetch ")
    assert f"HTTP Error 401: Unauthorized; {HUB_MODEL} needs a hub token" in line
    assert hub.cdn_seen.requests == []


def test_a_refused_token_is_one_line_without_the_token(tmp_path: Path) -> None:
    src = _hub_files(tmp_path / "repo")
    wrong = "hf_notTheRightOne"
    with fake_hub(HUB_MODEL, src, TOKEN) as hub:
        r = _hub_pull(hub, HUB_MODEL, tmp_path / "cache", _token_file(tmp_path, wrong))
    assert r.returncode == 1
    (line,) = r.stderr.splitlines()
    assert "refused access (HTTP 401); the token cannot read org/private-rl-ckpt" in line
    assert wrong not in r.stderr + (tmp_path / "pull.log").read_text()


@pytest.mark.parametrize("content", ["HF_TOKEN=\n", "HF_TOKEN=hf_two words\n", "hf_bare\n"])
def test_a_malformed_token_file_is_refused_without_quoting_it(tmp_path: Path, content: str) -> None:
    path = tmp_path / "hub-token.env"
    path.write_text(content)
    with fake_hub(HUB_MODEL, _hub_files(tmp_path / "repo"), TOKEN) as hub:
        r = _hub_pull(hub, HUB_MODEL, tmp_path / "cache", path)
    assert r.returncode == 1
    (line,) = r.stderr.splitlines()
    assert f"{path} holds no HF_TOKEN=<token> line" in line
    assert "words" not in line and "hf_bare" not in line
    assert hub.hub_seen.requests == []
