"""Synthesis: stack specs -> Terraform JSON, all or nothing."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import UserError
from .node_plan import NodePlan, plan_nodes
from .sizing.settings import StackSizes, resolve
from .specs import AnyStack


@dataclass(frozen=True)
class SynthResult:
    outdir: Path
    stacks: dict[str, Path]
    """Stack name -> its cdk.tf.json."""


def settings_for(spec: AnyStack) -> StackSizes:
    """The planner's settings for `spec`; UserError names the stack, the field and the fix."""
    try:
        return resolve(spec)
    except UserError as err:
        raise err.within(f"stack {spec.name!r}") from None


def plan_all(specs: Mapping[str, AnyStack]) -> dict[str, tuple[NodePlan, ...]]:
    """The node plan of every stack, user_data rendered, before anything is written."""
    plans = {}
    for name, spec in specs.items():
        plans[name] = plan_nodes(spec, settings_for(spec))
        for node in plans[name]:
            node.user_data_b64  # noqa: B018 -- renders now, so an oversized node fails here
    return plans


def synth(specs: Mapping[str, AnyStack], outdir: Path) -> SynthResult:
    """Write the Terraform JSON of `specs` to `outdir`, replacing it only when all succeeded."""
    plans = plan_all(specs)
    # Imported here so that commands that never synthesize (plan, stacks) skip jsii's start-up.
    from .constructs.stack import GpuStack
    from .tf.cdk import new_app

    outdir = outdir.resolve()
    outdir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{outdir.name}-", dir=outdir.parent))
    try:
        app = new_app(str(staging))
        for name, spec in specs.items():
            GpuStack(app, spec, plans[name])
        app.synth()
        _replace(staging, outdir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return SynthResult(
        outdir=outdir,
        stacks={name: outdir / "stacks" / name / "cdk.tf.json" for name in specs},
    )


#: What `terraform init` leaves in a stack's folder; kept across synths so a re-synth neither
#: forgets the provider lock nor forces a fresh provider download.
TERRAFORM_WORKDIR_FILES = (".terraform", ".terraform.lock.hcl")


def _replace(new: Path, target: Path) -> None:
    _carry_terraform_files(target, new)
    # Two renames keep the window without a complete output directory as small as it gets.
    old = target.with_name(f".{target.name}-old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def _carry_terraform_files(old_out: Path, new_out: Path) -> None:
    for stack_dir in (new_out / "stacks").iterdir():
        for name in TERRAFORM_WORKDIR_FILES:
            before = old_out / "stacks" / stack_dir.name / name
            if before.exists():
                before.rename(stack_dir / name)
