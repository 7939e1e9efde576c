"""A user's workflow for one synthesized stack, run by the real Terraform against the stand-in:
init (offline, from the mirror), validate, plan, apply, `terraform output -json`, the day-2
commands reading those outputs, a re-plan that must show no change, destroy, and an empty
stand-in tenancy afterwards.

    .venv/bin/python -m tests.standin_oci.e2e [STACK ...]     (what `make tf-e2e` runs)
"""

from __future__ import annotations

import json
import os
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

    def gpuform(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*GPUFORM, *args], cwd=REPO, env=self.env(),
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


def full_flow(run: StackRun) -> str:
    """Every step; one summary line, or StepFailed."""
    start = time.monotonic()
    run.deploy()
    run.day2_commands()
    for name in ("nodes", "ssh-config"):
        if run.day2[name].returncode != 0:
            raise StepFailed(run.stack, f"gpuform {name}", run.day2[name].stderr)
    if "Traceback" in run.day2["status"].stderr:
        raise StepFailed(run.stack, "gpuform status", run.day2["status"].stderr)
    replan = run.replan()
    if replan.returncode != 0:
        raise StepFailed(run.stack, "re-plan clean", replan.stdout)
    run.destroy()
    nodes = len(run.outputs.get("nodes", {}).get("value") or [])
    return (
        f"{run.stack}: {run.objects_after_apply} objects, {nodes} node(s), "
        f"{time.monotonic() - start:.0f}s"
    )


def main(argv: Sequence[str] | None = None) -> int:
    wanted = list(argv if argv is not None else sys.argv[1:])
    with tempfile.TemporaryDirectory(prefix="gpuform-tf-e2e-") as tmp:
        root = Path(tmp)
        mirror = install(root / "standin")
        out_dir = root / "synth" / "out"
        synth(out_dir)
        names = wanted or stacks(out_dir)
        failed = 0

        def one(name: str) -> str:
            run = StackRun(name, out_dir, mirror, root / "state" / f"{name}.json")
            try:
                return full_flow(run)
            except StepFailed as err:
                return f"{name}: FAILED at {err.step}\n{err.output}"

        with ThreadPoolExecutor(max_workers=int(os.environ.get("TF_E2E_JOBS", "2"))) as pool:
            for line in pool.map(one, names):
                failed += " FAILED at " in line
                print(line, flush=True)
        if failed:
            print(f"{failed} of {len(names)} stacks failed", file=sys.stderr)
            return 1
        print(f"{len(names)} stacks: {STEPS}")
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
