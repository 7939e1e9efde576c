"""Public rendering API: a node's files and the #cloud-config that writes and starts them all
(for review: nodes boot stage 0, infra/render/stage0.py, which installs the same files from
their bundle)."""

from __future__ import annotations

import base64
import gzip

from .context import NodeContext
from .jinja import environment
from .steps import TARGET, NodeFile, node_files, steps_for, unit_deps

CLOUD_CONFIG_TEMPLATE = "cloud-config.yaml.j2"

#: OCI caps an instance's metadata (every key, user_data included) at 32,000 bytes
#: (oracle/terraform-provider-oci website/docs/r/core_instance.html.markdown, `metadata`).
OCI_METADATA_LIMIT = 32_000


def render_node_file(ctx: NodeContext, f: NodeFile) -> str:
    template = environment().get_template(f.template)
    if f.step is None:  # gpuform.target
        return template.render(steps=[s.unit for s in steps_for(ctx)])
    variables = ctx.parts(f.step.reads)
    variables["unit"] = unit_deps(f.step, steps_for(ctx))
    return template.render(variables)


def render_files(ctx: NodeContext) -> dict[str, str]:
    """Every file node `ctx`'s cloud-config writes: absolute path -> content."""
    return {f.path: render_node_file(ctx, f) for f in node_files(ctx)}


def render_cloud_config(ctx: NodeContext) -> str:
    """The full `#cloud-config` of node `ctx`, as text."""
    files = node_files(ctx)
    units = [f.path.rsplit("/", 1)[1] for f in files if f.path.startswith(ctx.paths.units + "/")]
    return (
        environment()
        .get_template(CLOUD_CONFIG_TEMPLATE)
        .render(
            node=ctx.node,
            host=ctx.host,
            engine=ctx.engine,
            files=[(f, render_node_file(ctx, f)) for f in files],
            units=units,
            target=TARGET,
        )
    )


def compress(cloud_config: str) -> bytes:
    """user_data as OCI gets it: gzip, which cloud-init detects and unpacks by its magic bytes.

    cloud-init (cloudinit/user_data.py, convert_string -> util.decomp_gzip) unpacks gzip
    user-data from any datasource, OCI's and NoCloud's alike. mtime=0 keeps synth byte-identical.
    """
    return gzip.compress(cloud_config.encode(), compresslevel=9, mtime=0)


def decode_user_data(b64: str) -> str:
    """The cloud-config inside a node's base64 user_data (for reviewers and tests); gzip's
    concatenated members (stage 0 has two) read as one stream."""
    return gzip.decompress(base64.b64decode(b64)).decode()
