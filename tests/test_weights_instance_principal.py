"""The instance-principal pull, signed by the real oci SDK, checked by stand-ins that refuse
what OCI would refuse (tests/weights/oci_standin.py; issue 18, finding 1).

The pull runs as nodes run it: the shipped copy of the fetcher, under a venv holding `oci` and
only what `oci` itself requires (the node's /opt/gpuform/oci-sdk), so an import the SDK does
not bring (top-level `requests`) fails here as it failed on nodes.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.render.weights_part import shipped_fetcher
from infra.weights.manifest import NAME, build
from tests.weights.data import MiB, model_dir, same_tree
from tests.weights.oci_standin import OS_HOST, REGION, Oci, oci_standin
from tests.weights.pythons import PY36

OCI = importlib.metadata.version("oci")
NS, BUCKET, PREFIX = "gpuformns", "weights", "org/model"
#: pip 21.3.1 is the last pip for Python 3.6; older ones (Oracle Linux 8's venvs carry 9.0.3)
#: cannot install oci's dependencies from their wheels (issue 18, finding 2).
PIP36 = "pip==21.3.1"


def _venv_with_only_oci(base: str) -> Path:
    """A venv of interpreter `base` with pip's `oci` (the version gpuform pins) and its own
    dependencies, built once per machine from PyPI into ~/.cache: nothing of gpuform's leaks in."""
    ver = subprocess.run(
        [base, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    root = cache / "gpuform-tests" / f"oci-{OCI}-py{ver}"
    python = root / "bin" / "python"
    if not (root / ".complete").is_file():
        shutil.rmtree(root, ignore_errors=True)
        subprocess.run([base, "-m", "venv", str(root)], check=True, capture_output=True)
        steps = [[PIP36]] if ver == "3.6" else []
        for what in [*steps, [f"oci=={OCI}"]]:
            r = subprocess.run(
                [str(python), "-m", "pip", "install", "-q", *what],
                capture_output=True, text=True, timeout=900,
            )  # fmt: skip
            assert r.returncode == 0, f"pip install {what} failed: {r.stderr[-2000:]}"
        (root / ".complete").touch()
    return python


PYTHONS = [getattr(sys, "_base_executable", sys.executable), *([str(PY36)] if PY36 else [])]


@pytest.fixture(scope="module", params=PYTHONS, ids=["gpuform-python", "python3.6"][: len(PYTHONS)])
def node_python(request: pytest.FixtureRequest) -> Path:
    python = _venv_with_only_oci(request.param)
    # What makes this venv the node's: top-level requests is not there (the pull shows oci is;
    # importing oci alone takes Python 3.6 about 20 s here).
    no = subprocess.run([python, "-c", "import requests"], capture_output=True, text=True)
    assert "No module named 'requests'" in no.stderr, "oci now brings requests: rethink this test"
    return python


@pytest.fixture
def bucket(tmp_path: Path) -> Iterator[tuple[Path, Oci]]:
    src = model_dir(tmp_path / "model", files=6, big_mb=3, seed=31)
    objects = {f"{PREFIX}/{p.relative_to(src).as_posix()}": p.read_bytes()
               for p in src.rglob("*") if p.is_file()}  # fmt: skip
    objects[f"{PREFIX}/{NAME}"] = build(src).to_json().encode()
    with oci_standin(objects, NS, BUCKET, tmp_path) as oci:
        yield src, oci


def _pull(python: Path, oci: Oci, dest: Path) -> subprocess.CompletedProcess[str]:
    script = dest.parent / "weights-fetch.py"
    script.write_text(shipped_fetcher())
    args = ["--oci", f"{REGION}/{NS}/{BUCKET}", "--prefix", PREFIX, "--dest", str(dest)]
    args += ["--log", str(dest.parent / "pull.log"), "--workers", "4", "--procs", "2"]
    args += ["--chunk-mb", "1", "--auth-wait", "0"]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(dest.parent), **oci.env()}
    return subprocess.run(
        [str(python), str(script), *args], capture_output=True, text=True, timeout=300, env=env
    )


def test_the_pull_signs_with_the_real_sdk_and_object_storage_verifies_every_request(
    node_python: Path, bucket: tuple[Path, Oci], tmp_path: Path
) -> None:
    src, oci = bucket
    dest = tmp_path / "cache"
    r = _pull(node_python, oci, dest)
    assert r.returncode == 0, (r.stderr, (tmp_path / "pull.log").read_text())
    assert "verified" in r.stdout
    assert same_tree(src, dest) == []
    # The SDK read the instance's identity from IMDS v2 (with its Bearer Oracle header) ...
    for path in ("instance/region", "identity/cert.pem", "identity/key.pem",
                 "identity/intermediate.pem"):  # fmt: skip
        assert f"/opc/v2/{path} 200" in oci.seen.imds, oci.seen.imds
    # ... got one session token for a certificate-signed request, before the pull forked ...
    assert oci.seen.federation == ["ok"]
    # ... and every Object Storage GET (manifest, ranges) carried a valid ST$ signature.
    ranges = sum(-(-p.stat().st_size // MiB) for p in src.rglob("*") if p.is_file())
    assert len(oci.seen.objects) == 1 + ranges  # the manifest, then 1 MiB ranges
    assert [why for _, why in oci.seen.objects if why != "ok"] == []


def test_the_stand_in_refuses_what_object_storage_would(
    bucket: tuple[Path, Oci], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A check that cannot fail proves nothing: unsigned, replayed and foreign signatures."""
    _, oci = bucket
    for k, v in {**oci.env(), "HOME": str(tmp_path)}.items():
        monkeypatch.setenv(k, v)
    import oci as sdk

    signer = sdk.auth.signers.InstancePrincipalsSecurityTokenSigner()
    opener = urllib.request.build_opener()  # reads the proxy variables set above

    def get(path: str, headers: dict[str, str]) -> int:
        req = urllib.request.Request(f"https://{OS_HOST}{path}", headers=headers)
        try:
            with opener.open(req, timeout=30) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as err:
            return err.code

    def signed(path: str) -> dict[str, str]:
        req = sdk._vendor.requests.Request("GET", f"https://{OS_HOST}{path}").prepare()
        signer(req)
        return dict(req.headers)

    good = f"/n/{NS}/b/{BUCKET}/o/{PREFIX}/config.json"
    other = f"/n/{NS}/b/{BUCKET}/o/{PREFIX}/{NAME}"
    assert get(good, signed(good)) == 200
    assert get(good, {}) == 401
    assert get(other, signed(good)) == 401  # a signature is for one request target
    forged = dict(signed(good))
    forged["authorization"] = forged["authorization"].replace('keyId="ST$', 'keyId="ST$x')
    assert get(good, forged) == 401
    whys = [why for _, why in oci.seen.objects]
    assert whys == [
        "ok",
        "keyId names no token that Auth Service issued",
        "the signature does not verify",
        "keyId names no token that Auth Service issued",
    ]
