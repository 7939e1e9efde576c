"""The `weights` context part: where a node gets its model weights, and where it keeps them.

Every node that serves a Hugging Face model pulls its weights before the engine starts (the
`weights` step), from the stack's bucket or else from the model hub, verifies every file, and
the engine serves that local copy read-only (docs/weights.md).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

from .. import node_metadata
from ..engines import driver
from ..errors import UserError
from ..sizing.settings import StackSizes
from ..specs import StackSpec
from ..specs.weights import MAX_SHARED_ATTACHMENTS

FETCHER = Path(__file__).resolve().parent.parent / "weights" / "fetch.py"


@dataclass(frozen=True)
class VolumePart:
    """The block volume the weights live on, as the node sees it."""

    read_only: bool
    """Shared by every node, attached read-only: verified in place, never written."""
    # OCI's consistent device path for the first data volume on platform images
    # (oracle/terraform-provider-oci website/docs/r/core_volume_attachment.html.markdown,
    # `device`); the attachment asks for it, so it is the same on every node.
    device: str = "/dev/oracleoci/oraclevdb"
    mount: str = "/mnt/gpuform-weights"
    wait_s: int = 900
    """The agent logs in to the iSCSI target after boot; it can take minutes."""


@dataclass(frozen=True)
class WeightsPart:
    """One node's weight pull: from where, into which folder, served at which path."""

    source: Literal["bucket", "hub"]
    model: str
    revision: str
    key: str
    """The cache folder's name: the bucket and prefix, or the hub id and revision."""
    bucket: str | None
    prefix: str
    region: str
    volume: VolumePart | None
    url_var: str
    """node.env variable holding a PAR's URL, when the stack has one (plain HTTPS GETs)."""
    namespace_var: str
    """node.env variable holding the Object Storage namespace (instance principal reads)."""
    instance_principal: bool = False
    """A bucket without a PAR: the oci SDK signs each read, so the node needs the OCI client
    (the oci-client step); with a PAR the reads are plain HTTPS GETs."""
    workers: int = 32
    timeout_s: int = 6 * 3600
    link: str = "/var/lib/gpuform/weights"
    """Points at the verified folder once every file passed; the engine mounts its target."""
    container_dir: str = "/gpuform/weights"
    state: str = "/var/lib/gpuform/weights-verified.json"
    log: str = "/var/log/gpuform/weights.log"
    fetcher: str = field(default="", repr=False)
    """The source of infra/weights/fetch.py as the node gets it (docstrings dropped)."""


class _Unannotated(ast.NodeTransformer):
    """Drops type annotations, which the node's Python evaluates and never uses (they are for
    mypy here); a NamedTuple's stay, since they are its fields."""

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        if any(isinstance(b, ast.Name) and b.id == "NamedTuple" for b in node.bases):
            return node
        return self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        a = node.args
        for arg in (*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg):
            if arg is not None:
                arg.annotation = None
        node.returns = None
        return self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST | None:
        if node.value is None:
            return None  # `name: T` alone binds nothing
        return ast.copy_location(ast.Assign(targets=[node.target], value=node.value), node)


@cache
def shipped_fetcher() -> str:
    """infra/weights/fetch.py without its docstrings and annotations: the same code, fewer
    bundle bytes.

    The module docstring keeps its first line, which says on the node what the file is, and
    where the rest is. ast.unparse keeps the 3.6-compatible syntax of the source; comments and
    type comments go with the docstrings.
    """
    tree = ast.parse(FETCHER.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            body = node.body
            first = body[0] if body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                node.body = body[1:] or [ast.Pass()]
    doc = tree.body[0]
    if isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant):
        summary = str(doc.value.value).split("\n", 1)[0]
        doc.value.value = (
            f"{summary}\n\ngpuform's infra/weights/fetch.py, shipped; see docs/weights.md.\n"
        )
    tree = ast.fix_missing_locations(_Unannotated().visit(tree))
    return "#!/usr/bin/env python3\n" + ast.unparse(tree)  # the template adds the newline


def _key(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "--", text).strip("-")


def weights_part(stack: StackSpec, settings: StackSizes) -> WeightsPart | None:
    """Node-side weights of `stack`; None where the engine pulls through its server (Ollama)."""
    if driver(stack.engine.kind).pulls_model:
        return None
    w = stack.weights
    volume = None
    if w is not None and w.volume is not None:
        shared = w.volume.mode == "shared-read-only"
        if shared and settings.nodes > MAX_SHARED_ATTACHMENTS:
            raise UserError.at(
                "weights.volume.mode",
                w.volume.mode,
                f"the plan has {settings.nodes} nodes and OCI attaches one volume to at most "
                f"{MAX_SHARED_ATTACHMENTS}; use 'clone-per-node'",
            )
        volume = VolumePart(read_only=shared)
    model = stack.model
    prefix = w.folder(model.id) if w is not None else ""
    return WeightsPart(
        source="hub" if w is None else "bucket",
        model=model.id,
        revision=model.revision,
        key=_key(f"hub/{model.id}/{model.revision}" if w is None else f"{w.bucket}/{prefix}"),
        bucket=None if w is None else w.bucket,
        prefix=prefix,
        region=stack.deployment.region,
        volume=volume,
        url_var=node_metadata.WEIGHTS_URL.upper(),
        namespace_var=node_metadata.WEIGHTS_NAMESPACE.upper(),
        instance_principal=w is not None and w.par_expires is None,
        fetcher=shipped_fetcher(),
    )
