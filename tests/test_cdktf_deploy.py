"""The README's deploy commands, run as written, against the stand-in oracle/oci provider:
`cdktf deploy STACK --auto-approve` / `cdktf destroy` (cdktf-cli 0.21 from npm) for a
single-node and a multi-node stack, `make deploy STACK=...` / `make destroy STACK=...`, and the
README's claim that `cdktf synth` writes byte-identical Terraform to `gpuform synth`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infra.stacks import discover, load_stack_file
from tests.standin_oci import e2e
from tests.standin_oci.mirror import REPO, Mirror, install
from tests.standin_oci.store import read_objects

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("terraform") is None, reason="needs terraform"),
]
SINGLE, MULTI = "r1-distill-llama-8b", "deepseek-r1-2x-h100"


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Mirror:
    return install(tmp_path_factory.mktemp("standin"))


def _env(mirror: Mirror, state: Path, *, drop: tuple[str, ...] = ()) -> dict[str, str]:
    env = mirror.env(state)
    for name, value in e2e.TF_VARS.items():
        env[f"TF_VAR_{name}"] = value
    for name in drop:
        env.pop(f"TF_VAR_{name}", None)
    return env


def _project(root: Path, stack_files: list[Path]) -> Path:
    """A cdktf project folder outside the repo: the repo's cdktf.json with this venv's Python,
    and a stacks/ of the given files (cdktf writes cdktf.out/ and state beside cdktf.json)."""
    if shutil.which("cdktf") is None:
        pytest.skip("cdktf-cli is not installed (make tools)")
    root.mkdir(parents=True)
    config = json.loads((REPO / "cdktf.json").read_text())
    config["app"] = f"{sys.executable} -m infra.app"
    (root / "cdktf.json").write_text(json.dumps(config))
    (root / "stacks").mkdir()
    for path in stack_files:
        (root / "stacks" / path.name).symlink_to(path)
    return root


def _stack_file(stack: str) -> Path:
    """The file defining `stack` (cdktf deploy synthesizes every stack in the folder: one file
    keeps each deploy's synth to one stack)."""
    return next(p for p in discover(REPO / "stacks").values() if load_stack_file(p).name == stack)


def _cdktf(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {**env, "CHECKPOINT_DISABLE": "1", "CI": "1", "FORCE_COLOR": "0"}
    return subprocess.run(
        ["cdktf", *args], cwd=project, env=env, capture_output=True, text=True, timeout=600,
        stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("stack", [SINGLE, MULTI])
def test_cdktf_deploy_and_destroy(mirror: Mirror, tmp_path: Path, stack: str) -> None:
    project = _project(tmp_path / "project", [_stack_file(stack)])
    state = tmp_path / "standin.json"
    env = _env(mirror, state)
    deployed = _cdktf(project, env, "deploy", stack, "--auto-approve")
    assert deployed.returncode == 0, deployed.stdout[-4000:] + deployed.stderr[-4000:]
    assert read_objects(state), "deploy created nothing in the stand-in"
    assert (project / f"terraform.{stack}.tfstate").exists()
    destroyed = _cdktf(project, env, "destroy", stack, "--auto-approve")
    assert destroyed.returncode == 0, destroyed.stdout[-4000:] + destroyed.stderr[-4000:]
    assert read_objects(state) == {}


def test_cdktf_synth_is_byte_identical_to_gpuform_synth(tmp_path: Path) -> None:
    project = _project(tmp_path / "project", list(discover(REPO / "stacks").values()))
    done = _cdktf(project, dict(os.environ), "synth")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    e2e.synth(tmp_path / "out")
    ours = sorted((tmp_path / "out" / "stacks").glob("*/cdk.tf.json"))
    theirs = sorted((project / "cdktf.out" / "stacks").glob("*/cdk.tf.json"))
    assert [p.parent.name for p in ours] == [p.parent.name for p in theirs]
    for a, b in zip(ours, theirs, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.parent.name


def _make(
    target: str, out: Path, env: dict[str, str], *extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", target, f"STACK={SINGLE}", f"OUT={out}", *extra],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
        stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip


def test_make_deploy_and_destroy_as_the_readme_says(mirror: Mirror, tmp_path: Path) -> None:
    out = tmp_path / "work" / "cdktf.out"
    state = tmp_path / "standin.json"
    env = _env(mirror, state)
    deployed = _make("deploy", out, env, "ARGS=-auto-approve")
    assert deployed.returncode == 0, deployed.stdout[-4000:] + deployed.stderr[-4000:]
    assert "Apply complete!" in deployed.stdout
    assert read_objects(state)
    destroyed = _make("destroy", out, env, "ARGS=-auto-approve")
    assert destroyed.returncode == 0, destroyed.stdout[-4000:] + destroyed.stderr[-4000:]
    assert "Destroy complete!" in destroyed.stdout
    assert read_objects(state) == {}


def test_make_deploy_without_a_variable_prints_terraforms_error(
    mirror: Mirror, tmp_path: Path
) -> None:
    out = tmp_path / "work" / "cdktf.out"
    env = _env(mirror, tmp_path / "standin.json", drop=("compartment_ocid",))
    failed = _make("deploy", out, env, "ARGS=-auto-approve")
    text = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert "No value for required variable" in text
    assert 'The root module input variable "compartment_ocid" is not set' in " ".join(text.split())
    assert "Traceback" not in text
    assert read_objects(tmp_path / "standin.json") == {}
