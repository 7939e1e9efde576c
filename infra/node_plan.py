"""The node plan: one typed entry per node of a stack, and the only code that decides them.

Role, replica, head, hostname, metadata keys and steps of every node are decided here, from
the stack and its resolved settings. Terraform's GpuNodes construct, the CLI (`gpuform nodes`), the
boot harness and the day-2 commands all read this plan; none of them computes a node's role.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from . import node_metadata
from .engines import RayRole
from .placement import Placement, rdma_placement
from .render import stage0
from .render.bundle import Bundle, build_bundle
from .render.cloud_config import render_cloud_config, render_files
from .render.context import NodeContext, build_context
from .render.steps import TARGET, steps_for
from .sizing.settings import StackSizes
from .specs import AnyStack

Role = Literal["head", "worker"]


@dataclass(frozen=True)
class NodePlan:
    """One node: where it sits in the stack, what it reads at boot, and the steps it runs."""

    stack: str
    index: int
    count: int
    role: Role
    """A head serves its replica (the API, the Ray head, SGLang's rank 0); a worker joins it."""
    replica: int
    rank: int
    head: int
    """Index of the head of this node's replica (its own index, on a head)."""
    hostname: str
    """The VNIC's hostname label: <hostname>.<subnet>.<vcn>.oraclevcn.com in the VCN's DNS;
    "" in a cluster network, whose pool names its instances itself."""
    display_name: str
    ray_role: RayRole | None
    serves_http: bool
    steps: tuple[str, ...]
    """Its systemd units, in boot order. gpuform.target wants them all but the first: stage 0,
    which fetches the node's bundle (on a cluster network, after finding the node in the
    roster) and then installs the others."""
    metadata_keys: tuple[str, ...]
    """Instance-metadata keys it reads at boot."""
    placement: Placement | None
    """The RDMA placement it is launched into (a compute cluster), if any."""
    context: NodeContext = field(repr=False, compare=False)

    @cached_property
    def bundle(self) -> Bundle:
        """Its files, as the archive stage 0 fetches (infra/render/bundle.py)."""
        return build_bundle(self.context)

    @cached_property
    def stage0(self) -> stage0.Stage0:
        """Its own stage 0; a cluster network's nodes boot `pool_stage0(plans)` instead."""
        return stage0.single(self.context, self.bundle)

    @property
    def user_data_b64(self) -> str:
        """Its stage-0 user_data, gzip then base64, as Terraform sets it."""
        return self.stage0.user_data_b64

    @property
    def cloud_config(self) -> str:
        """The cloud-config that writes every file the node ends up with, for review: what
        stage 0 and the bundle give it together."""
        return render_cloud_config(self.context)

    @property
    def files(self) -> dict[str, str]:
        """Files its bundle holds: absolute path -> content."""
        return render_files(self.context)

    def metadata(self, values: node_metadata.ApplyTimeValues) -> Mapping[str, str]:
        """Its `metadata` map, as Terraform sets it, with the given apply-time values."""
        return node_metadata.instance_metadata(
            stack=self.stack,
            node_index=self.index,
            node_count=self.count,
            user_data_b64=self.user_data_b64,
            values=values,
        )

    def as_dict(self) -> dict[str, Any]:
        """The plain fields, for JSON (`gpuform nodes --json`, the `nodes` output)."""
        return {
            "index": self.index,
            "name": self.display_name,
            "hostname": self.hostname,
            "role": self.role,
            "replica": self.replica,
            "rank": self.rank,
            "head": self.head,
            "ray_role": self.ray_role,
            "serves_http": self.serves_http,
            "steps": list(self.steps),
            "target": TARGET,
            "metadata_keys": list(self.metadata_keys),
            "placement": self.placement,
            "bundle": self.bundle.as_dict(),
        }


def plan_nodes(stack: AnyStack, settings: StackSizes) -> tuple[NodePlan, ...]:
    """Every node of `stack` with `settings`, head of the first replica first."""
    topo = settings.topology
    placement = rdma_placement(stack, settings)
    plans = []
    for index in range(settings.nodes):
        ctx = build_context(stack, index, settings)
        plans.append(
            NodePlan(
                stack=stack.name,
                index=index,
                count=settings.nodes,
                role="head" if topo.is_head(index) else "worker",
                replica=topo.replica(index),
                rank=topo.rank(index),
                head=topo.head_of(index),
                hostname="" if placement == "cluster_network" else f"node{index}",
                display_name=f"{stack.name}-node-{index}",
                ray_role=ctx.ray.role if ctx.ray is not None else None,
                serves_http=ctx.engine is not None and ctx.engine.command.serves_http,
                steps=(stage0.UNIT, *(s.unit for s in steps_for(ctx))),
                metadata_keys=(*(m.key for m in ctx.metadata), node_metadata.BUNDLE_URLS),
                placement=placement,
                context=ctx,
            )
        )
    return tuple(plans)


def pool_stage0(plans: Sequence[NodePlan]) -> stage0.Stage0:
    """The one stage 0 every node of a cluster network boots (infra/render/stage0.py)."""
    return stage0.pooled(
        [p.context for p in plans], [p.head for p in plans], [p.bundle for p in plans]
    )


def bundles(plans: Sequence[NodePlan]) -> tuple[Bundle, ...]:
    """The stack's distinct bundles, in the order of the nodes that first use them."""
    seen: dict[str, Bundle] = {}
    for p in plans:
        seen.setdefault(p.bundle.sha256, p.bundle)
    return tuple(seen.values())
