"""Synthesis: stack specs -> Terraform JSON, all or nothing."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from . import outdir as outdir_guard
from .errors import UserError
from .node_plan import NodePlan, plan_nodes, pool_stage0
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
        # Renders now, so an oversized stage 0 fails here.
        if plans[name][0].placement == "cluster_network":
            pool_stage0(plans[name]).user_data_b64  # noqa: B018
        else:
            for node in plans[name]:
                node.user_data_b64  # noqa: B018
    return plans


def synth(
    specs: Mapping[str, AnyStack], outdir: Path, stack_paths: Iterable[Path] = ()
) -> SynthResult:
    """Write the Terraform JSON of `specs` into gpuform's folder `outdir`, only when all of them
    synthesized; the other stacks' folders there, and terraform's files, stay as they were.

    `stack_paths` (the stacks folder, stack files) are never written over or into.
    """
    outdir_guard.check(outdir, stack_paths)
    plans = plan_all(specs)
    # Imported here so that commands that never synthesize (plan, stacks) skip jsii's start-up.
    from .constructs.stack import GpuStack
    from .tf.cdk import new_app

    target = outdir.resolve()
    with outdir_guard.claimed(outdir) as staging:
        app = new_app(str(staging))
        for name, spec in specs.items():
            GpuStack(app, spec, plans[name])
        try:
            app.synth()
        except Exception as err:
            failed = outdir_guard.node_fs_error(err)
            if failed is None:
                raise
            raise outdir_guard.unwritable(outdir, failed) from None
        outdir_guard.install(staging, target, specs)
    return SynthResult(
        outdir=target,
        stacks={name: target / "stacks" / name / "cdk.tf.json" for name in specs},
    )
