"""Stage 0: the small user_data every node boots, which fetches and checks its bundle.

user_data holds the stage-0 script and unit and the sha256 of each bundle the node may need
(one; a cluster network's nodes, one per kind of node, and which node is which kind). The
bundles' read-only URLs are apply-time values and come through the metadata key
`gpuform_bundle_urls`, so user_data stays a literal synth writes (docs/bundles.md).

Its size does not grow with the steps: only the hashes change when a file does, and they ride
in a second gzip member stored uncompressed, so two bundles always give user_data of the same
length. cloud-init reads gzip user-data with Python's GzipFile (cloudinit/util.py,
decomp_gzip), which reads concatenated members as one stream, as gunzip does.
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import Sequence
from dataclasses import dataclass

from .. import node_metadata
from ..errors import UserError
from .bundle import Bundle
from .cloud_config import compress
from .context import NodeContext
from .jinja import environment
from .steps import TARGET

TEMPLATE = "stage0-cloud-config.yaml.j2"
UNIT = "gpuform-bundle.service"
#: The most base64 stage-0 user_data any node may carry (issue 19): the rest of OCI's
#: 32,000-byte metadata cap stays free for the SSH keys and the apply-time keys.
MAX_STAGE0_B64 = 4_000


@dataclass(frozen=True)
class Stage0File:
    path: str
    mode: str
    content: str


@dataclass(frozen=True)
class PoolNode:
    """A cluster network node's kind (index into the bundles) and its replica's head."""

    index: int
    kind: int
    head: int


@dataclass(frozen=True)
class Stage0:
    """The user_data of one node, or of every node of a cluster network."""

    first: NodeContext
    """The node it is rendered for (a pool's node 0: what every pool node shares)."""
    bundles: tuple[Bundle, ...]
    pool: tuple[PoolNode, ...] = ()
    """Empty for a node launched on its own."""

    @property
    def files(self) -> tuple[Stage0File, ...]:
        """What cloud-init writes, the bundle hashes aside (`hashes`)."""
        ctx, env = self.first, environment()
        variables = {
            "node": ctx.node,
            "paths": ctx.paths,
            "limits": ctx.limits,
            "pool": bool(self.pool),
            "target": TARGET,
            "bundle_key": node_metadata.BUNDLE_URLS,
            "roster_key": node_metadata.ROSTER_URL,
            "index_var": node_metadata.NODE_INDEX.upper(),
            "head_var": node_metadata.HEAD_IP.upper(),
        }
        script = env.get_template("scripts/stage0.sh.j2").render(variables)
        unit = env.get_template("units/bundle.service.j2").render(variables)
        nodes = "".join(f"{n.index} {n.kind} {n.head}\n" for n in self.pool)
        return (
            Stage0File(f"{ctx.paths.lib}/stage0.sh", "0755", script),
            Stage0File(f"{ctx.paths.units}/{UNIT}", "0644", unit),
            *((Stage0File(f"{ctx.paths.lib}/pool-nodes", "0644", nodes),) if self.pool else ()),
        )

    @property
    def hashes(self) -> str:
        """{paths.lib}/bundles: one sha256 per line, the bundle of kind k on line k+1."""
        return "".join(f"{b.sha256}\n" for b in self.bundles)

    def _head(self) -> str:
        ctx = self.first
        return (
            environment()
            .get_template(TEMPLATE)
            .render(
                node=ctx.node,
                host=ctx.host,
                engine=ctx.engine,
                paths=ctx.paths,
                pool=bool(self.pool),
                unit=UNIT,
                files=self.files,
            )
        )

    def _tail(self) -> str:
        return "".join(f"      {line}\n" for line in self.hashes.splitlines())

    @property
    def cloud_config(self) -> str:
        """The whole #cloud-config, as cloud-init reads it."""
        return self._head() + self._tail()

    @property
    def user_data(self) -> bytes:
        """gzip: the script part compressed, the hashes in a stored member of their own."""
        return compress(self._head()) + gzip.compress(self._tail().encode(), 0, mtime=0)

    @property
    def user_data_b64(self) -> str:
        """As Terraform sets metadata.user_data; UserError past MAX_STAGE0_B64."""
        b64 = base64.b64encode(self.user_data).decode()
        if len(b64) > MAX_STAGE0_B64:
            who = "its cluster network" if self.pool else f"node {self.first.node.index}"
            raise UserError(
                f"stack {self.first.node.stack!r} {who}: stage-0 user_data is {len(b64)} bytes "
                f"(gzip, base64), over the {MAX_STAGE0_B64} gpuform allows; it has "
                f"{len(self.bundles)} kind(s) of node: give the cluster network fewer kinds "
                '(or use placement="compute_cluster")'
            )
        return b64

    def files_installed(self) -> dict[str, str]:
        """Everything stage 0 itself writes, hashes included: absolute path -> content."""
        return {
            **{f.path: f.content for f in self.files},
            f"{self.first.paths.lib}/bundles": self.hashes,
        }


def single(ctx: NodeContext, bundle: Bundle) -> Stage0:
    """The stage 0 of a node launched on its own: one bundle, kind 0."""
    return Stage0(ctx, (bundle,))


def pooled(
    contexts: Sequence[NodeContext], heads: Sequence[int], bundles: Sequence[Bundle]
) -> Stage0:
    """The one stage 0 every node of a cluster network boots (contexts in index order)."""
    kinds: list[Bundle] = []
    nodes = []
    for ctx, head, bundle in zip(contexts, heads, bundles, strict=True):
        if bundle.sha256 not in [k.sha256 for k in kinds]:
            kinds.append(bundle)
        kind = [k.sha256 for k in kinds].index(bundle.sha256)
        nodes.append(PoolNode(ctx.node.index, kind, head))
    return Stage0(contexts[0], tuple(kinds), tuple(nodes))
