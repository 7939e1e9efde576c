"""The typed context templates render from: every decision about a node is made here.

The context is cut into parts (node, host, paths, limits, metadata, engine, api_key, ...), each
defined in a module of its own (node_part.py, paths_part.py, metadata_part.py, engine_part.py,
cluster_part.py, firewall_part.py, weights_part.py, storage_part.py) and put together here. A
step declares the parts its templates read and is rendered with those alone, so a template
that reaches for anything else fails under StrictUndefined. Templates only lay out shell, systemd
and YAML around these values; they hold no policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from .. import node_metadata
from ..engines import RayRole, driver
from ..sizing.settings import StackSizes
from ..specs import AnyStack, StackSpec, TrainingStackSpec
from .cluster_part import RayPart, RdmaPart, TorchrunPart, rdma_part
from .engine_part import CONTAINER_NAME, EnginePart, serve_inputs
from .firewall_part import FirewallPart
from .metadata_part import ApiKeyPart, HubTokenPart, MetadataKey, metadata_keys
from .node_part import HostPart, NodePart, PackageManager, gpu_flags
from .paths_part import LimitsPart, PathsPart
from .storage_part import StoragePart, storage_part
from .weights_part import WeightsPart, weights_part

__all__ = [
    "ApiKeyPart", "EnginePart", "FirewallPart", "HostPart", "HubTokenPart", "LimitsPart",
    "MetadataKey", "NodeContext", "NodePart", "PackageManager", "Part", "PathsPart", "RayPart",
    "RdmaPart", "TorchrunPart", "build_context", "serve_inputs",
]  # fmt: skip

Part = Literal[
    "node", "host", "paths", "limits", "metadata", "engine", "api_key", "rdma", "ray", "torchrun",
    "weights", "firewall",
    "storage", "hub_token",
]  # fmt: skip


@dataclass(frozen=True)
class NodeContext:
    """Everything a node's cloud-config, scripts and units are rendered from, in parts."""

    node: NodePart
    host: HostPart
    engine: EnginePart | None
    """The serving engine; None on a training cluster."""
    metadata: tuple[MetadataKey, ...]
    api_key: ApiKeyPart | None
    rdma: RdmaPart | None = None
    ray: RayPart | None = None
    torchrun: TorchrunPart | None = None
    weights: WeightsPart | None = None
    """The verified weight cache the engine serves (infra/render/weights_part.py)."""
    firewall: FirewallPart | None = None
    storage: StoragePart | None = None
    """The shared File Storage mount, when the stack has one."""
    hub_token: HubTokenPart | None = None
    """A token for a private or gated hub repo, when the stack's model asks for one."""
    paths: PathsPart = field(default_factory=PathsPart)
    limits: LimitsPart = field(default_factory=LimitsPart)

    def parts(self, names: tuple[Part, ...]) -> dict[str, object]:
        """The named parts, as template variables."""
        return {n: getattr(self, n) for n in names}


def build_context(stack: AnyStack, node_index: int, settings: StackSizes) -> NodeContext:
    """Decide everything about node `node_index` of `stack` with `settings`."""
    topo = settings.topology
    # settings.nodes, not nodes.count: the planner picks the count a stack leaves unset, and
    # Terraform creates exactly settings.nodes instances.
    if not 0 <= node_index < settings.nodes:
        raise ValueError(
            f"node_index {node_index} is outside stack {stack.name!r}'s "
            f"{settings.nodes} node(s); use 0..{settings.nodes - 1}"
        )
    shape = stack.nodes.shape_info
    common = NodeContext(
        node=NodePart(
            stack=stack.name,
            index=node_index,
            count=settings.nodes,
            rank=topo.rank(node_index),
            replica_nodes=topo.nodes_per_replica,
        ),
        host=HostPart(
            shape=shape.name,
            vendor=shape.vendor,
            gpus=shape.gpus,
            package_manager=stack.nodes.image.package_manager,
            nvme_drives=shape.nvme_drives,
            nvswitch=shape.nvswitch,
            gpu_flags=gpu_flags(shape.vendor),
        ),
        engine=None,
        metadata=metadata_keys(hub_token=isinstance(stack, StackSpec) and stack.uses_hub_token),
        api_key=None,
        rdma=rdma_part(stack, settings),
        storage=storage_part(stack.shared_storage),
        firewall=FirewallPart(
            vcn_cidr=str(stack.deployment.vcn_cidr),
            tcp_ports=(),
            peer_tcp_all=topo.nodes_per_replica > 1,
        ),
    )
    if isinstance(stack, TrainingStackSpec):
        return _training(common, stack, settings)
    return _serving(common, stack, settings)


def _serving(common: NodeContext, stack: StackSpec, settings: StackSizes) -> NodeContext:
    drv = driver(stack.engine.kind)
    port = stack.engine.serve_port
    weights = weights_part(stack, settings)
    model_path = weights.container_dir if weights is not None else None
    inputs = serve_inputs(stack, common.node.index, settings, model_path)
    command = drv.command(inputs)
    wants_key = stack.endpoint.require_api_key and command.serves_http
    secret = next(m for m in common.metadata if m.key == node_metadata.API_KEY_SECRET_ID)
    hub_secret = next(
        (m for m in common.metadata if m.key == node_metadata.HUB_TOKEN_SECRET_ID), None
    )
    ray = (
        RayPart(command.ray_role, stack.image_ref, cache_dir=drv.container_cache)
        if command.ray_role
        else None
    )
    return replace(
        common,
        engine=EnginePart(
            kind=drv.kind,
            title=drv.title,
            image=stack.image_ref,
            port=port,
            container_name=CONTAINER_NAME,
            container_cache=drv.container_cache,
            command=command,
            model=stack.model.id,
            pull=drv.pull,
            api_key_unsupported=wants_key and drv.api_key is None,
        ),
        api_key=(
            ApiKeyPart(secret.key, secret.var, f"{common.paths.etc}/api-key.env", drv.api_key)
            if wants_key and drv.api_key is not None
            else None
        ),
        ray=ray,
        weights=weights,
        # The spec allows a token only where the weights step pulls from the hub.
        hub_token=(
            HubTokenPart(hub_secret.key, hub_secret.var, f"{common.paths.etc}/hub-token.env")
            if hub_secret is not None and weights is not None and weights.source == "hub"
            else None
        ),
        firewall=(
            replace(common.firewall, tcp_ports=(*drv.ports(inputs), *_ray_ports(ray)))
            if common.firewall
            else None
        ),
    )


def _training(common: NodeContext, stack: TrainingStackSpec, settings: StackSizes) -> NodeContext:
    t = stack.training
    role: RayRole = "head" if common.node.is_head else "worker"
    topo = settings.topology
    ray = RayPart(role, t.image_ref) if t.launcher == "ray" else None
    # torchrun's rendezvous store listens on the master (node rank 0) alone.
    master = (t.master_port,) if t.launcher == "torchrun" and common.node.is_head else ()
    return replace(
        common,
        ray=ray,
        firewall=(
            replace(common.firewall, tcp_ports=(*_ray_ports(ray), *master))
            if common.firewall
            else None
        ),
        torchrun=(
            TorchrunPart(
                master_port=t.master_port,
                nnodes=topo.nodes_per_replica,
                nproc_per_node=topo.gpus_per_node,
                node_rank=common.node.rank,
                tp=topo.tp,
                pp=topo.pp,
                ep=topo.ep,
            )
            if t.launcher == "torchrun"
            else None
        ),
    )


def _ray_ports(ray: RayPart | None) -> tuple[int, ...]:
    return ray.tcp_ports if ray is not None else ()
