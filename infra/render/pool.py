"""One cloud-config for every node of a cluster network, each node picking its own files at boot.

An instance configuration launches identical instances with identical user_data, so per-node
files cannot be chosen by Terraform. Instead the cloud-config carries every node's files, each
distinct file once (a 16-node training cluster has two kinds of node: a head and fifteen
identical workers), plus a manifest per kind of node and an index -> kind map. At boot the
roster step (templates/scripts/roster.sh.j2) finds the node's index in the roster Terraform
writes (docs/cluster-network.md), installs that index's files exactly as a compute-cluster
node's cloud-config would have written them, and starts gpuform.target.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from .. import node_metadata
from ..errors import UserError
from .cloud_config import MAX_USER_DATA_B64, OCI_METADATA_LIMIT, compress, render_node_file
from .context import NodeContext
from .jinja import environment
from .steps import node_files

POOL_CLOUD_CONFIG_TEMPLATE = "pool-cloud-config.yaml.j2"
ROSTER_UNIT = "gpuform-roster.service"


@dataclass(frozen=True)
class PoolFile:
    """One file a node of some kind installs: its path, mode and the stored content's key."""

    path: str
    mode: str
    key: str


@dataclass(frozen=True)
class PoolNode:
    """A node's index, the head of its replica, and its kind (index into `PoolLayout.kinds`)."""

    index: int
    head: int
    kind: int


@dataclass(frozen=True)
class PoolLayout:
    """Every node's files, each distinct content stored once, grouped by kind of node."""

    store: dict[str, str]
    """content key -> content"""
    kinds: tuple[tuple[PoolFile, ...], ...]
    nodes: tuple[PoolNode, ...]

    def files_of(self, index: int) -> dict[str, str]:
        """The files node `index` installs: absolute path -> content."""
        kind = self.kinds[self.nodes[index].kind]
        return {f.path: self.store[f.key] for f in kind}


def _key(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()[:20]


def pool_layout(contexts: Sequence[NodeContext], heads: Sequence[int]) -> PoolLayout:
    """Group the nodes of one cluster network (contexts in index order) by their files."""
    store: dict[str, str] = {}
    kinds: list[tuple[PoolFile, ...]] = []
    nodes = []
    for ctx, head in zip(contexts, heads, strict=True):
        files = []
        for f in node_files(ctx):
            content = render_node_file(ctx, f)
            key = _key(content)
            store.setdefault(key, content)
            files.append(PoolFile(f.path, f.mode, key))
        kind = tuple(files)
        if kind not in kinds:
            kinds.append(kind)
        nodes.append(PoolNode(ctx.node.index, head, kinds.index(kind)))
    return PoolLayout(store, tuple(kinds), tuple(nodes))


@dataclass(frozen=True)
class PoolFileOut:
    """A file the shared cloud-config itself writes."""

    path: str
    mode: str
    content: str


def pool_files(contexts: Sequence[NodeContext], heads: Sequence[int]) -> tuple[PoolFileOut, ...]:
    """What the shared cloud-config writes: the roster step, the index -> kind map, a
    manifest per kind of node ("MODE KEY PATH" lines) and the content store."""
    first = contexts[0]
    paths, limits, env = first.paths, first.limits, environment()
    layout = pool_layout(contexts, heads)
    roster = env.get_template("scripts/roster.sh.j2").render(
        node=first.node,
        paths=paths,
        limits=limits,
        roster_key=node_metadata.ROSTER_URL,
        index_var=node_metadata.NODE_INDEX.upper(),
        head_var=node_metadata.HEAD_IP.upper(),
    )
    unit = env.get_template("units/roster.service.j2").render(paths=paths, limits=limits)
    nodes = "# index kind head\n" + "".join(f"{n.index} {n.kind} {n.head}\n" for n in layout.nodes)
    return (
        PoolFileOut(f"{paths.lib}/roster.sh", "0755", roster),
        PoolFileOut(f"{paths.units}/{ROSTER_UNIT}", "0644", unit),
        PoolFileOut(f"{paths.pool}/nodes", "0644", nodes),
        *(
            PoolFileOut(
                f"{paths.pool}/kind-{k}",
                "0644",
                "".join(f"{f.mode} {f.key} {f.path}\n" for f in kind),
            )
            for k, kind in enumerate(layout.kinds)
        ),
        *(
            PoolFileOut(f"{paths.pool}/store/{key}", "0644", content)
            for key, content in layout.store.items()
        ),
    )


def render_pool_cloud_config(contexts: Sequence[NodeContext], heads: Sequence[int]) -> str:
    """The `#cloud-config` every node of the cluster network boots, as text."""
    first = contexts[0]
    return (
        environment()
        .get_template(POOL_CLOUD_CONFIG_TEMPLATE)
        .render(
            node=first.node,
            host=first.host,
            engine=first.engine,
            paths=first.paths,
            files=pool_files(contexts, heads),
            roster_unit=ROSTER_UNIT,
        )
    )


def pool_user_data_b64(contexts: Sequence[NodeContext], heads: Sequence[int]) -> str:
    """The base64 gzip user_data of the instance configuration; UserError when too big."""
    b64 = base64.b64encode(compress(render_pool_cloud_config(contexts, heads))).decode()
    if len(b64) > MAX_USER_DATA_B64:
        stack = contexts[0].node.stack
        raise UserError.at(
            "nodes.placement",
            "cluster_network",
            f"stack {stack!r}'s nodes need {len(b64)} bytes of shared user_data (gzip, base64), "
            f"over the {MAX_USER_DATA_B64} OCI's {OCI_METADATA_LIMIT}-byte metadata cap leaves "
            'it; use placement="compute_cluster", which gives each node its own',
        )
    return b64
