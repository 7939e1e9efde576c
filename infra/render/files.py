"""Which files a node gets: each written path, its template and its mode."""

from __future__ import annotations

from dataclasses import dataclass

from .context import UNITS, NodeContext


@dataclass(frozen=True)
class NodeFile:
    """A file the cloud-config writes on the node."""

    path: str
    template: str
    mode: str

    @property
    def is_unit(self) -> bool:
        return self.path.startswith(UNITS + "/")

    @property
    def is_script(self) -> bool:
        return self.path.endswith(".sh")


def _step(ctx: NodeContext, name: str, *scripts: str) -> list[NodeFile]:
    files = [NodeFile(f"{UNITS}/gpuform-{name}.service", f"units/{name}.service.j2", "0644")]
    files += [NodeFile(f"{ctx.lib}/{s}.sh", f"scripts/{s}.sh.j2", "0755") for s in scripts]
    return files


#: Wants every step: starting it queues all of them in one systemd transaction, so a step that
#: fails fast is not pulled in again by a later unit's Requires= (and does not run twice).
TARGET = "gpuform.target"


def node_files(ctx: NodeContext) -> tuple[NodeFile, ...]:
    """The files of node `ctx`, in the order the cloud-config lists them."""
    files = _step(ctx, "node-env", "node-env")
    files += _step(ctx, "runtime", "runtime")
    files += _step(ctx, "gpu-check", "gpu-check")
    if ctx.nvme_drives > 0:
        files += _step(ctx, "localdisk", "localdisk")
    if ctx.api_key is not None:
        files += _step(ctx, "api-key", "api-key")
    files += _step(ctx, "engine", "engine-pull", "engine-run", "engine-stopped", "entry")
    if ctx.engine.ollama_tag is not None:
        files += _step(ctx, "model-pull", "model-pull")
    if ctx.engine.command.serves_http:
        files += _step(ctx, "ready", "ready")
    files.append(NodeFile(f"{UNITS}/{TARGET}", "units/gpuform.target.j2", "0644"))
    return tuple(files)


def unit_names(files: tuple[NodeFile, ...]) -> tuple[str, ...]:
    """The systemd unit names among `files`."""
    return tuple(f.path.rsplit("/", 1)[1] for f in files if f.is_unit)


def step_units(files: tuple[NodeFile, ...]) -> tuple[str, ...]:
    """The service units among `files`: what the target wants."""
    return tuple(u for u in unit_names(files) if u.endswith(".service"))


@dataclass(frozen=True)
class EngineDeps:
    """systemd dependencies of the engine and readiness units, from the files a node gets."""

    engine_requires: tuple[str, ...]
    """Failing any of these keeps the engine from starting (systemd logs which)."""
    engine_wants: tuple[str, ...]
    """Best effort: without local NVMe the cache stays on the boot volume."""
    ready_requires: tuple[str, ...]


def engine_deps(files: tuple[NodeFile, ...]) -> EngineDeps:
    """Dependencies between the units among `files`."""
    units = set(unit_names(files))

    def present(*names: str) -> tuple[str, ...]:
        return tuple(f"gpuform-{n}.service" for n in names if f"gpuform-{n}.service" in units)

    return EngineDeps(
        engine_requires=present("node-env", "runtime", "gpu-check", "api-key"),
        engine_wants=present("localdisk"),
        ready_requires=present("engine", "model-pull"),
    )
