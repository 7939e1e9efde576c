"""A training cluster: GPU nodes on RDMA with a launcher ready; the job itself is yours to run."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ..sizing.optimizers import DEFAULT_OPTIMIZER, Optimizer
from .base import Spec
from .deployment import Deployment
from .engine import _IMAGE, _TAG
from .model import Model
from .nodes import NodeGroup
from .storage import SharedStorage

Launcher = Literal["ray", "torchrun"]
TrainTask = Literal["full", "lora", "qlora"]


class Training(Spec):
    """How the nodes are prepared for a training job.

    launcher "ray": every node runs Ray from `image` (head on node 0, the rest join it), as RL
    frameworks such as verl and OpenRLHF expect; submit with `ray job submit`. launcher
    "torchrun": every node gets /etc/gpuform/torchrun.env (MASTER_ADDR, MASTER_PORT, NODE_RANK,
    NNODES, NPROC_PER_NODE and the parallel sizes), so one `torchrun` command line works on
    any node count.
    """

    launcher: Launcher
    image: str = Field(description="Container image of the trainer, without the tag.")
    tag: str = Field(description="Image tag.")
    task: TrainTask = "full"
    seq_len: int = Field(default=4096, ge=256, le=1_048_576)
    micro_batch: int = Field(default=1, ge=1, le=1024)
    optimizer: Optimizer = Field(
        default=DEFAULT_OPTIMIZER,
        description="What the trainer steps with; the planner sizes its states and step: "
        "adamw-fused (HF Trainer's default), adamw-foreach (torch.optim.AdamW's own default) "
        "or adamw-8bit (bitsandbytes).",
    )
    tensor_parallel_size: int = Field(default=1, ge=1, le=8)
    pipeline_parallel_size: int = Field(default=1, ge=1, le=128)
    expert_parallel_size: int = Field(default=1, ge=1, le=1024)
    master_port: int = Field(default=29500, ge=1024, le=65535)

    @model_validator(mode="after")
    def _image_ref(self) -> Training:
        if not _IMAGE.fullmatch(self.image):
            raise ValueError(
                f"training.image {self.image!r}: use a repository name such as verlai/verl, "
                "without the tag"
            )
        if not _TAG.fullmatch(self.tag):
            raise ValueError(f"training.tag {self.tag!r}: use an image tag such as v0.4.1")
        return self

    @property
    def image_ref(self) -> str:
        return f"{self.image}:{self.tag}"


class TrainingStackSpec(Spec):
    """One training deployment: network, GPU nodes, the model trained, and the launcher."""

    deployment: Deployment
    nodes: NodeGroup
    model: Model
    training: Training
    shared_storage: SharedStorage | None = None
    """An OCI File Storage file system every node mounts: checkpoints, datasets, weights."""

    @model_validator(mode="after")
    def _no_hub_token(self) -> TrainingStackSpec:
        if self.model.hub_token:
            raise ValueError(
                "model.hub_token = True but a training cluster's nodes pull no weights "
                "themselves (your job does); drop hub_token and give the job its own token"
            )
        return self

    @model_validator(mode="after")
    def _parallel_sizes_fit(self) -> TrainingStackSpec:
        t = self.training
        gpus = self.nodes.count * self.nodes.shape_info.gpus
        model_parallel = t.tensor_parallel_size * t.pipeline_parallel_size
        if t.tensor_parallel_size > self.nodes.shape_info.gpus:
            raise ValueError(
                f"training.tensor_parallel_size {t.tensor_parallel_size} exceeds the "
                f"{self.nodes.shape_info.gpus} GPUs of one {self.nodes.shape}; keep TP in a node"
            )
        if gpus % model_parallel:
            raise ValueError(
                f"TP {t.tensor_parallel_size} x PP {t.pipeline_parallel_size} does not divide "
                f"the {gpus} GPUs of {self.nodes.count} x {self.nodes.shape}; change one of them"
            )
        # Megatron-core places experts within the data-parallel group.
        dp = gpus // model_parallel
        if dp % t.expert_parallel_size:
            raise ValueError(
                f"training.expert_parallel_size {t.expert_parallel_size} does not divide the "
                f"{dp} data-parallel ranks (GPUs / (TP x PP)); use a divisor of {dp}"
            )
        return self

    @property
    def name(self) -> str:
        return self.deployment.name

    @property
    def image_ref(self) -> str:
        return self.training.image_ref
