"""How one engine lays a model over GPUs and nodes: the single value planner and argv share."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Topology:
    """Tensor, pipeline and expert parallelism of one replica, and how many replicas run.

    A replica is one copy of the model over `nodes_per_replica` nodes of `gpus_per_node` GPUs.
    Each engine maps that onto its own flags: vLLM keeps TP inside a node and pipelines across
    nodes; SGLang spans one TP group over every GPU of the replica; Ollama splits whole layers.
    Memory per GPU, KV tokens and the engine's command line are all computed from this value.
    """

    tp: int
    """The tensor-parallel size the engine is told (SGLang's spans nodes)."""
    pp: int
    """Pipeline stages; each holds a contiguous slice of the layers."""
    nodes_per_replica: int
    gpus_per_node: int
    """GPUs of each node the replica uses."""
    ep: int = 1
    """Expert-parallel size: MoE experts placed whole on TP ranks (1: sliced or dense)."""
    layer_split: int = 1
    """Ollama's multi-GPU mode: whole layers spread over this many GPUs (no TP)."""
    replicas: int = 1
    dp: int = 1
    """Data-parallel ranks inside one replica: training's; serving runs replicas instead."""

    def __post_init__(self) -> None:
        sizes = (self.tp, self.pp, self.nodes_per_replica, self.gpus_per_node, self.replicas)
        if min(*sizes, self.dp) < 1:
            raise ValueError(f"every size of a topology is at least 1: {self}")
        if self.tp * self.pp * self.layer_split * self.dp != self.gpus_per_replica:
            raise ValueError(
                f"TP {self.tp} x PP {self.pp} x layer split {self.layer_split} x DP {self.dp} "
                f"must use the replica's {self.gpus_per_replica} GPUs"
            )

    @property
    def nodes(self) -> int:
        """Nodes the stack creates: every replica's."""
        return self.replicas * self.nodes_per_replica

    @property
    def gpus_per_replica(self) -> int:
        return self.gpus_per_node * self.nodes_per_replica

    @property
    def layer_stages(self) -> int:
        """Groups the layers are cut into; each GPU holds the KV cache of one group's layers."""
        return self.pp * self.layer_split

    def with_replicas(self, replicas: int) -> Topology:
        return replace(self, replicas=replicas)

    def replica(self, node_index: int) -> int:
        return node_index // self.nodes_per_replica

    def rank(self, node_index: int) -> int:
        """The node's place inside its replica; 0 is the replica's head."""
        return node_index % self.nodes_per_replica

    def head_of(self, node_index: int) -> int:
        """Index of the head node of the replica `node_index` belongs to."""
        return node_index - self.rank(node_index)

    def is_head(self, node_index: int) -> bool:
        return self.rank(node_index) == 0

    def describe(self) -> str:
        """`TP 8, PP 2` (EP and replicas only when above 1)."""
        parts = [f"TP {self.tp}"] if self.layer_split == 1 else [f"{self.layer_split} GPUs"]
        parts += [f"PP {self.pp}"] if self.pp > 1 else []
        parts += [f"EP {self.ep}"] if self.ep > 1 else []
        return ", ".join(parts)
