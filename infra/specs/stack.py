"""A whole deployment: what a stack file in stacks/ defines."""

from __future__ import annotations

from pydantic import model_validator

from ..engines import driver, kinds, one_of
from .base import Spec
from .deployment import Deployment
from .endpoint import Endpoint
from .engine import Engine
from .model import Model
from .nodes import NodeGroup
from .storage import SharedStorage
from .weights import MAX_SHARED_ATTACHMENTS, WeightCache


def _fetched_by_gpuform() -> tuple[str, ...]:
    """Engines whose weights the weights step fetches (from the hub or a bucket)."""
    return kinds(lambda d: not d.pulls_model)


class StackSpec(Spec):
    """One deployment: network, GPU nodes, model, engine and endpoint."""

    deployment: Deployment
    nodes: NodeGroup
    model: Model
    engine: Engine
    endpoint: Endpoint = Endpoint()
    shared_storage: SharedStorage | None = None
    """An OCI File Storage file system every node mounts (infra/specs/storage.py)."""
    weights: WeightCache | None = None
    """Weights from a bucket (and a volume); None: each node pulls from the model hub."""

    @model_validator(mode="after")
    def _consistent(self) -> StackSpec:
        shape = self.nodes.shape_info
        tp = self.engine.tensor_parallel_size
        if tp is not None and tp > shape.gpus:
            raise ValueError(
                f"engine.tensor_parallel_size {tp} exceeds the {shape.gpus} GPUs of one "
                f"{shape.name}; use at most {shape.gpus} (pipeline across nodes for more)"
            )
        drv = driver(self.engine.kind)
        if drv.pulls_model and self.model.is_hf_id:
            raise ValueError(
                f"model.id {self.model.id!r} is a Hugging Face id but {drv.title} pulls its own "
                f"tags; use one of them, such as {drv.example_model}"
            )
        if not drv.pulls_model and not self.model.is_hf_id:
            raise ValueError(
                f"model.id {self.model.id!r} is not a Hugging Face id (org/name), which "
                f"{self.engine.kind} needs; use e.g. {drv.example_model}"
            )
        image = self.engine.image or ""
        if shape.vendor == "amd" and image and "rocm" not in self.engine.image_ref("amd"):
            raise ValueError(
                f"engine.image {image!r} is not a ROCm build but {shape.name} has AMD GPUs; "
                "use a ROCm image (e.g. rocm/vllm, or a -rocm tag)"
            )
        ref = self.engine.image_ref("nvidia")
        if shape.vendor == "nvidia" and "rocm" in ref:
            raise ValueError(
                f"engine image {ref!r} is a ROCm build but {shape.name} has NVIDIA GPUs; "
                "use a CUDA image, or leave engine.image and engine.tag unset"
            )
        self._weights_fit()
        self._hub_token_fits()
        return self

    def _weights_fit(self) -> None:
        w = self.weights
        drv = driver(self.engine.kind)
        if w is not None and drv.pulls_model:
            raise ValueError(
                f"weights is set but {drv.title} pulls its own tags through its server; "
                f"drop weights or serve with {one_of(_fetched_by_gpuform())}"
            )
        shared = w is not None and w.volume is not None and w.volume.mode == "shared-read-only"
        if shared and self.nodes.count > MAX_SHARED_ATTACHMENTS:
            raise ValueError(
                f"weights.volume.mode 'shared-read-only' attaches one volume to every node, but "
                f"nodes.count is {self.nodes.count} and OCI allows {MAX_SHARED_ATTACHMENTS}; "
                "use mode 'clone-per-node'"
            )

    def _hub_token_fits(self) -> None:
        # Only the weights step's hub pull sends the token; where there is none, the secret
        # and its policy would grant nodes a credential they never use.
        if not self.model.hub_token:
            return
        drv = driver(self.engine.kind)
        if drv.pulls_model:
            raise ValueError(
                f"model.hub_token = True but {drv.title} pulls {self.model.id!r} through its own "
                "registry, not the Hugging Face hub; drop hub_token, or serve a hub model with "
                f"{one_of(_fetched_by_gpuform())}"
            )
        if self.weights is not None:
            raise ValueError(
                f"model.hub_token = True but weights.bucket {self.weights.bucket!r} is set, and "
                "nodes read their weights from it, never from the hub; drop hub_token (use your "
                "token where you download the model for `gpuform weights push`)"
            )

    @property
    def name(self) -> str:
        return self.deployment.name

    @property
    def uses_api_key(self) -> bool:
        """The endpoint checks an API key kept in OCI Vault: the stack asks for one and its
        engine can enforce it (Ollama cannot), so nodes need the secret and read access to it."""
        return self.endpoint.require_api_key and driver(self.engine.kind).api_key is not None

    @property
    def uses_hub_token(self) -> bool:
        """Nodes read a hub token from OCI Vault for the weights pull (validated to be a hub
        pull: no bucket, an engine whose weights gpuform fetches)."""
        return self.model.hub_token

    @property
    def image_ref(self) -> str:
        return self.engine.image_ref(self.nodes.shape_info.vendor)
