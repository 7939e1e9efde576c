"""The `engine` context part: a serving node's engine container, and what its command is built
from."""

from __future__ import annotations

from dataclasses import dataclass

from ..engines import EngineCommand, EngineKind, ModelPull, ServeInputs
from ..sizing.settings import StackSizes
from ..specs import StackSpec

CONTAINER_NAME = "gpuform-engine"


@dataclass(frozen=True)
class EnginePart:
    """The engine container of one node."""

    kind: EngineKind
    title: str
    image: str
    port: int
    container_name: str
    container_cache: str
    command: EngineCommand
    model: str
    pull: ModelPull | None
    """How the engine pulls `model` through its running server (the model-pull step, once the
    server answers); None: it loads the model at start."""
    api_key_unsupported: bool
    """The stack asks for a key but the engine has no way to enforce one (Ollama)."""

    @property
    def ready_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/models"


def serve_inputs(
    stack: StackSpec, node_index: int, settings: StackSizes, model_path: str | None = None
) -> ServeInputs:
    """What node `node_index`'s engine command and ports are built from."""
    return ServeInputs(
        model_id=stack.model.id,
        revision=stack.model.revision,
        port=stack.engine.serve_port,
        topology=settings.topology,
        node_index=node_index,
        max_model_len=settings.max_model_len,
        memory_fraction=settings.gpu_memory_fraction,
        extra_args=stack.engine.extra_args,
        model_path=model_path,
    )
