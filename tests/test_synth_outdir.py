"""`gpuform synth` never loses a file: it writes only into a folder it made (issue 17).

Each test is a command from the issue, run as a user runs it, in a throwaway project folder.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import GPUFORM, run_cli

STACK = """
from infra.specs import Deployment, Engine, Model, NodeGroup, StackSpec
stack = StackSpec(
    deployment=Deployment(
        name="{name}",
        region="us-ashburn-1",
        ssh_allowed_cidrs=["198.51.100.0/24"],
        api_allowed_cidrs=["198.51.100.0/24"],
    ),
    nodes=NodeGroup(shape="VM.GPU.A10.1"),
    model=Model(id="deepseek-ai/DeepSeek-R1-Distill-Llama-8B"),
    engine=Engine(kind="vllm", max_model_len={context}),
)
"""


def _project(root: Path, names: tuple[str, ...] = ("stack-a", "stack-b")) -> Path:
    """A user's project: stacks/ with one file a stack, and a note of their own."""
    (root / "stacks").mkdir(parents=True)
    for name in names:
        (root / "stacks" / f"{name}.py").write_text(STACK.format(name=name, context=4096))
    (root / "notes.md").write_text("my notes\n")
    return root


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every path under `root` and the bytes of each file (None for a folder)."""
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(root.rglob("*"))
    }


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize(
    ("out", "says"),
    [
        (".", "gpuform: --out = '.': is the project folder or above it;"),
        ("..", "gpuform: --out = '..': is the project folder or above it;"),
        ("stacks", "gpuform: --out = 'stacks': would hold or lie inside your stack files"),
        ("stacks/out", "gpuform: --out = 'stacks/out': would hold or lie inside your stack"),
        ("notes.md/out", "gpuform: --out = 'notes.md/out': cannot write there (Not a directory)"),
        ("/proc/gpuform-out", "gpuform: --out = '/proc/gpuform-out': cannot write there"),
    ],
)
def test_synth_refuses_an_out_that_would_lose_the_users_files(
    tmp_path: Path, out: str, says: str
) -> None:
    project = _project(tmp_path / "project")
    before = _tree(tmp_path)
    result = run_cli(["synth", "stack-a", "--out", out], cwd=project)
    assert result.code == 2
    assert _one_line(result.stderr).startswith(says)
    assert _tree(tmp_path) == before


def test_synth_refuses_a_folder_of_the_users_and_names_what_is_in_it(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "build").mkdir()
    (project / "build" / "keep.txt").write_text("mine\n")
    result = run_cli(["synth", "--out", "build"], cwd=project)
    assert result.code == 2
    assert _one_line(result.stderr) == (
        "gpuform: --out = 'build': holds files gpuform did not write (build/keep.txt); "
        "name a new or empty folder, e.g. --out cdktf.out"
    )
    assert (project / "build" / "keep.txt").read_text() == "mine\n"
    assert sorted(p.name for p in (project / "build").iterdir()) == ["keep.txt"]


def test_two_stack_files_with_one_name_are_refused(tmp_path: Path) -> None:
    project = _project(tmp_path, names=("stack-a",))
    other = tmp_path / "copy.py"
    other.write_text(STACK.format(name="stack-a", context=2048))
    result = run_cli(["synth", "stacks/stack-a.py", str(other), "--out", "out"], cwd=project)
    assert result.code == 2
    assert _one_line(result.stderr) == (
        f"gpuform: {other}: deployment.name = 'stack-a' is used by another stack on the "
        "command line; give each stack its own name"
    )
    assert not (project / "out").exists()


def test_synthesizing_one_stack_keeps_the_others_and_terraforms_files(tmp_path: Path) -> None:
    project = _project(tmp_path)
    out = project / "cdktf.out"
    assert run_cli(["synth"], cwd=project).code == 0
    # What `terraform init` and the user leave in each stack's folder.
    for name in ("stack-a", "stack-b"):
        (out / "stacks" / name / ".terraform" / "providers").mkdir(parents=True)
        (out / "stacks" / name / ".terraform.lock.hcl").write_text(f"# lock {name}\n")
    (out / "stacks" / "stack-a" / "terraform.tfvars").write_text('region = "x"\n')
    b_before = _tree(out / "stacks" / "stack-b")
    a_before = (out / "stacks" / "stack-a" / "cdk.tf.json").read_bytes()
    # A synth killed earlier left its staging folder behind: this run clears it.
    (out / ".gpuform-staging-killed").mkdir()
    (out / ".gpuform-staging-killed" / "manifest.json").write_text("{}")
    # The user narrows stack-a's context; only stack-a is synthesized again.
    (project / "stacks" / "stack-a.py").write_text(STACK.format(name="stack-a", context=2048))
    result = run_cli(["synth", "stack-a"], cwd=project)
    assert result.code == 0, result.stderr
    assert result.stdout == "stack-a: cdktf.out/stacks/stack-a/cdk.tf.json\n"
    assert _tree(out / "stacks" / "stack-b") == b_before
    stack_a = out / "stacks" / "stack-a"
    assert (stack_a / ".terraform" / "providers").is_dir()
    assert (stack_a / ".terraform.lock.hcl").read_text() == "# lock stack-a\n"
    assert (stack_a / "terraform.tfvars").read_text() == 'region = "x"\n'
    assert (stack_a / "cdk.tf.json").read_bytes() != a_before
    # cdktf deploy reads the manifest: both stacks are still in it.
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(manifest["stacks"]) == ["stack-a", "stack-b"]
    assert not list(out.glob(".gpuform-staging-*"))
    assert not [p for p in project.iterdir() if p.name.startswith(".")]


def test_an_output_folder_from_before_the_marker_is_adopted(tmp_path: Path) -> None:
    # Output an older gpuform wrote (no marker) holds only what synth and terraform make;
    # upgrading must not make the user delete it (and lose .terraform/) by hand.
    project = _project(tmp_path, names=("stack-a",))
    old = project / "cdktf.out"
    (old / "stacks" / "stack-a" / ".terraform").mkdir(parents=True)
    (old / "stacks" / "stack-a" / "cdk.tf.json").write_text("{}")
    (old / "stacks" / "stack-a" / ".terraform.lock.hcl").write_text("# lock\n")
    (old / "manifest.json").write_text('{"stacks": {}, "version": "0.21.0"}')
    assert run_cli(["synth"], cwd=project).code == 0
    assert (old / "stacks" / "stack-a" / ".terraform.lock.hcl").read_text() == "# lock\n"
    assert json.loads((old / "stacks" / "stack-a" / "cdk.tf.json").read_text())["resource"]


def test_a_killed_synth_leaves_staging_only_in_its_folder_and_the_next_run_clears_it(
    tmp_path: Path,
) -> None:
    project = _project(tmp_path, names=("stack-a",))
    out = project / "cdktf.out"
    proc = subprocess.Popen(
        [str(GPUFORM), "synth"], cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while not list(out.glob(".gpuform-staging-*")) and proc.poll() is None:
        assert time.monotonic() < deadline, "no staging folder appeared"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list(out.glob(".gpuform-staging-*")), "synth finished before it could be killed"
    # Nothing beside the output folder: the project holds what it held, plus cdktf.out.
    assert sorted(p.name for p in project.iterdir()) == ["cdktf.out", "notes.md", "stacks"]
    # An older gpuform staged beside its output: a killed run of it left such a folder.
    legacy = project / ".cdktf.out-k1ll3d" / "stacks" / "stack-a"
    legacy.mkdir(parents=True)
    (legacy / "cdk.tf.json").write_text("{")
    (project / ".cdktf.out-mine").mkdir()
    (project / ".cdktf.out-mine" / "terraform.tfstate").write_text("{}")
    result = run_cli(["synth"], cwd=project)
    assert result.code == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == [".gpuform-out", "manifest.json", "stacks"]
    # Gone, but only the one that held nothing but synth's own files.
    assert sorted(p.name for p in project.iterdir()) == [
        ".cdktf.out-mine",
        "cdktf.out",
        "notes.md",
        "stacks",
    ]


def _tmpfs_synth(root: Path, script: str) -> subprocess.CompletedProcess[str]:
    """Run `script` with a 200 KiB tmpfs mounted at `root`, in a user and mount namespace of its
    own (unprivileged where the kernel allows it), so a full disk is a real one."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare is not installed")
    probe = subprocess.run(
        [unshare, "--user", "--map-root-user", "--mount", "true"], capture_output=True, check=False
    )
    if probe.returncode != 0:
        pytest.skip("this kernel refuses user namespaces, so no tmpfs can be mounted")
    root.mkdir()
    return subprocess.run(
        [
            unshare,
            "--user",
            "--map-root-user",
            "--mount",
            "sh",
            "-c",
            f'mount -t tmpfs -o size=200k tmpfs "{root}" && {script}',
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "GPUFORM": str(GPUFORM)},
    )


def test_a_full_disk_is_one_line_and_the_old_output_survives(tmp_path: Path) -> None:
    project = _project(tmp_path / "project", names=("stack-a",))
    disk = tmp_path / "disk"
    script = (
        f'cd "{project}" && "$GPUFORM" synth --out "{disk}/out" >/dev/null || exit 90; '
        f'cp "{disk}/out/stacks/stack-a/cdk.tf.json" "{tmp_path}/before.json"; '
        f'dd if=/dev/zero of="{disk}/filler" bs=1k 2>/dev/null; '
        f'"$GPUFORM" synth --out "{disk}/out"; echo "exit $?"; '
        f'cmp "{disk}/out/stacks/stack-a/cdk.tf.json" "{tmp_path}/before.json" && echo same; '
        f'ls -A "{disk}/out"; '
        # A first synth into new folders: none of them is left behind.
        f'"$GPUFORM" synth --out "{disk}/new/deeper/out" 2>/dev/null; echo "exit $?"; '
        f'ls -A "{disk}"'
    )
    done = _tmpfs_synth(disk, script)
    assert done.stdout.splitlines() == [
        "exit 2",
        "same",
        ".gpuform-out",
        "manifest.json",
        "stacks",
        "exit 2",
        "filler",
        "out",
    ]
    assert _one_line(done.stderr) == (
        f"gpuform: --out = '{disk}/out': cannot write there (No space left on device); "
        "free some space"
    )
