"""A user's workflow for one synthesized stack, run by the real Terraform against the stand-in:
init (offline, from the mirror), validate, plan, apply, `terraform output -json`, the day-2
commands reading those outputs, a re-plan that must show no change, destroy, and an empty
stand-in tenancy afterwards.

    .venv/bin/python -m tests.standin_oci.e2e [STACK ...]     (what `make tf-e2e` runs)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .mirror import REPO, Mirror, install
from .store import read_objects

STEPS = "init, validate, plan, apply, re-plan clean, destroy"
GPUFORM = [sys.executable, "-m", "infra.cli.main"]
TERRAFORM = os.environ.get("TF", "terraform")
# A stack's variables with no default, by name: what a user exports as TF_VAR_<name>.
TF_VARS: Mapping[str, str] = {
    "compartment_ocid": "ocid1.compartment.oc1..aaaaaaaastandincompartment",
    "tenancy_ocid": "ocid1.tenancy.oc1..aaaaaaaastandintenancy",
    "api_key_secret_ocid": "ocid1.vaultsecret.oc1.iad.aaaaaaaastandinapikey",
    "hf_token_secret_ocid": "ocid1.vaultsecret.oc1.iad.aaaaaaaastandinhftoken",
    "node_image_ocid": "ocid1.image.oc1.iad.aaaaaaaastandinimage",
    "ssh_public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGfakestandinkeyfakestandinkeyfake e2e",
}
STATUS_TIMEOUT_S = 60


class StepFailed(Exception):
    def __init__(self, stack: str, step: str, output: str) -> None:
        super().__init__(f"{stack}: {step} failed\n{output[-6000:]}")
        self.stack, self.step, self.output = stack, step, output


@dataclass
class StackRun:
    stack: str
    out_dir: Path
    mirror: Mirror
    state: Path
    seconds: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    objects_after_apply: int = 0
    day2: dict[str, subprocess.CompletedProcess[str]] = field(default_factory=dict)
    replanned: subprocess.CompletedProcess[str] | None = None
    destroy_failure: StepFailed | None = None

    @property
    def folder(self) -> Path:
        return self.out_dir / "stacks" / self.stack

    def env(self) -> dict[str, str]:
        env = self.mirror.env(self.state)
        for name in self.variables():
            env.setdefault(f"TF_VAR_{name}", TF_VARS[name])
        return env

    def variables(self) -> list[str]:
        doc = json.loads((self.folder / "cdk.tf.json").read_text(encoding="utf-8"))
        needed = [n for n, v in doc.get("variable", {}).items() if "default" not in v]
        unknown = [n for n in needed if n not in TF_VARS]
        if unknown:
            raise StepFailed(
                self.stack, "variables", f"no test value for {unknown}: add to TF_VARS"
            )
        return needed

    def run(self, step: str, argv: Sequence[str], ok: Callable[[int], bool] = lambda rc: rc == 0,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:  # fmt: skip
        start = time.monotonic()
        done = subprocess.run(
            list(argv), cwd=self.folder, env=self.env(), capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip
        self.seconds[step] = self.seconds.get(step, 0.0) + time.monotonic() - start
        if not ok(done.returncode):
            raise StepFailed(
                self.stack, step, f"rc={done.returncode}\n{done.stdout}\n{done.stderr}"
            )
        return done

    def terraform(
        self, step: str, *args: str, ok: Callable[[int], bool] = lambda rc: rc == 0
    ) -> subprocess.CompletedProcess[str]:
        return self.run(step, [TERRAFORM, *args, "-no-color"], ok)

    @property
    def home(self) -> Path:
        """A home of the run's own: day-2 commands write ~/.ssh/gpuform and ~/.gpuform, and a
        test must not touch the user's."""
        return self.state.parent / f"{self.stack}.home"

    def gpuform(self, *args: str) -> subprocess.CompletedProcess[str]:
        self.home.mkdir(parents=True, exist_ok=True)
        env = {
            **self.env(),
            "HOME": str(self.home),
            "GPUFORM_HOME": str(self.home / ".gpuform"),
            "GPUFORM_SSH_CONFIG_DIR": str(self.home / ".ssh" / "gpuform"),
        }
        return subprocess.run(
            [*GPUFORM, *args], cwd=REPO, env=env,
            capture_output=True, text=True, timeout=STATUS_TIMEOUT_S + 30, check=False,
        )  # fmt: skip

    def deploy(self) -> None:
        self.terraform("init", "init", "-input=false")
        self.terraform("validate", "validate")
        self.terraform("plan", "plan", "-input=false", "-out=tfplan")
        self.terraform("apply", "apply", "-input=false", "-auto-approve", "tfplan")
        out = self.terraform("output", "output", "-json")
        self.outputs = json.loads(out.stdout)
        self.objects_after_apply = len(read_objects(self.state))

    def day2_commands(self) -> None:
        start = time.monotonic()
        for name, args in (
            ("nodes", ["nodes", self.stack, "--json"]),
            ("ssh-config", ["ssh-config", self.stack, "--out", str(self.out_dir)]),
            ("status", ["status", self.stack, "--no-endpoint", "--out", str(self.out_dir)]),
        ):
            self.day2[name] = self.gpuform(*args)
        self.seconds["day-2"] = time.monotonic() - start

    def replan(self) -> subprocess.CompletedProcess[str]:
        """`plan -detailed-exitcode`: 0 no changes, 2 changes (returned for the caller)."""
        return self.terraform(
            "re-plan", "plan", "-input=false", "-detailed-exitcode", ok=lambda rc: rc in (0, 2)
        )

    def destroy(self) -> None:
        self.terraform("destroy", "destroy", "-input=false", "-auto-approve")
        left = read_objects(self.state)
        if left:
            raise StepFailed(self.stack, "destroy", f"stand-in tenancy still holds {sorted(left)}")


def synth(out_dir: Path) -> None:
    done = subprocess.run(
        [*GPUFORM, "synth", "--out", str(out_dir)], cwd=REPO, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"gpuform synth failed:\n{done.stdout}\n{done.stderr}")


def stacks(out_dir: Path) -> list[str]:
    return sorted(p.name for p in (out_dir / "stacks").iterdir() if (p / "cdk.tf.json").exists())


def walk(run: StackRun) -> StackRun:
    """Every step, keeping what each printed; StepFailed where the flow cannot go on."""
    start = time.monotonic()
    run.deploy()
    run.day2_commands()
    run.replanned = run.replan()
    run.destroy_failure = None
    try:
        run.destroy()
    except StepFailed as err:
        run.destroy_failure = err
    run.seconds["total"] = time.monotonic() - start
    return run


def verdict(run: StackRun) -> str:
    """One summary line, or StepFailed naming the first step that went wrong."""
    for name in ("nodes", "ssh-config"):
        if run.day2[name].returncode != 0:
            raise StepFailed(run.stack, f"gpuform {name}", run.day2[name].stderr)
    if "Traceback" in run.day2["status"].stderr:
        raise StepFailed(run.stack, "gpuform status", run.day2["status"].stderr)
    if run.replanned is None or run.replanned.returncode != 0:
        raise StepFailed(run.stack, "re-plan clean", run.replanned.stdout if run.replanned else "")
    if run.destroy_failure is not None:
        raise run.destroy_failure
    nodes = len(run.outputs.get("nodes", {}).get("value") or [])
    return (
        f"{run.stack}: {run.objects_after_apply} objects, {nodes} node(s), "
        f"{run.seconds['total']:.0f}s"
    )


def walk_all(runs: Sequence[StackRun], jobs: int | None = None) -> dict[str, StackRun | StepFailed]:
    """Every stack's walk, `jobs` at a time (TF_E2E_JOBS, default 2: CI has 2 cores and a
    Terraform run waits on its plugin processes much of the time)."""
    jobs = jobs or int(os.environ.get("TF_E2E_JOBS", "2"))

    def one(run: StackRun) -> StackRun | StepFailed:
        try:
            return walk(run)
        except StepFailed as err:
            return err

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return dict(zip([r.stack for r in runs], pool.map(one, runs), strict=True))


def main(argv: Sequence[str] | None = None) -> int:
    wanted = list(argv if argv is not None else sys.argv[1:])
    if shutil.which(TERRAFORM) is None:
        print(f"tf-e2e: {TERRAFORM!r} is not on PATH; install Terraform >= 1.5", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="gpuform-tf-e2e-") as tmp:
        root = Path(tmp)
        mirror = install(root / "standin")
        out_dir = root / "synth" / "out"
        synth(out_dir)
        names = wanted or stacks(out_dir)
        runs = [StackRun(n, out_dir, mirror, root / "state" / f"{n}.json") for n in names]
        failed = 0
        for name, result in walk_all(runs).items():
            try:
                if isinstance(result, StepFailed):
                    raise result
                print(verdict(result), flush=True)
            except StepFailed as err:
                failed += 1
                print(f"{name}: FAILED at {err.step}\n{err.output}", flush=True)
        if failed:
            print(f"{failed} of {len(names)} stacks failed", file=sys.stderr)
            return 1
        print(f"{len(names)} stacks: {STEPS}")
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
