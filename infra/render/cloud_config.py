"""Public rendering API: a node's files and the #cloud-config that writes and starts them."""

from __future__ import annotations

from ..sizing.settings import EngineSettings
from ..specs import StackSpec
from .context import NodeContext, build_context
from .files import TARGET, NodeFile, engine_deps, node_files, step_units, unit_names
from .jinja import environment

CLOUD_CONFIG_TEMPLATE = "cloud-config.yaml.j2"

#: OCI caps an instance's metadata at 32,000 bytes and user_data travels base64-encoded
#: (4/3 larger) beside the other keys, so a rendered cloud-config must stay below this.
MAX_CLOUD_CONFIG_BYTES = 22_000


def _render_files(ctx: NodeContext) -> list[tuple[NodeFile, str]]:
    files = node_files(ctx)
    deps = engine_deps(files)
    env = environment()
    steps = step_units(files)
    return [
        (f, env.get_template(f.template).render(ctx=ctx, deps=deps, steps=steps)) for f in files
    ]


def render_node_files(
    stack: StackSpec, node_index: int, settings: EngineSettings
) -> dict[str, str]:
    """Every file node `node_index`'s cloud-config writes: absolute path -> content."""
    ctx = build_context(stack, node_index, settings)
    return {f.path: content for f, content in _render_files(ctx)}


def render_cloud_config(stack: StackSpec, node_index: int, settings: EngineSettings) -> str:
    """The full `#cloud-config` user-data of node `node_index` of `stack`."""
    ctx = build_context(stack, node_index, settings)
    rendered = _render_files(ctx)
    files = tuple(f for f, _ in rendered)
    text = (
        environment()
        .get_template(CLOUD_CONFIG_TEMPLATE)
        .render(
            ctx=ctx,
            files=[(f, content) for f, content in rendered],
            units=unit_names(files),
            target=TARGET,
        )
    )
    size = len(text.encode())
    if size > MAX_CLOUD_CONFIG_BYTES:
        raise ValueError(
            f"cloud-config of {stack.name} node {node_index} is {size} bytes, over the "
            f"{MAX_CLOUD_CONFIG_BYTES}-byte budget OCI's 32,000-byte metadata cap leaves; "
            "shorten the templates or extra_args"
        )
    return text
