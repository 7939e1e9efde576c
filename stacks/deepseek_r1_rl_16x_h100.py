"""RL (GRPO/PPO) of DeepSeek-R1 on 16 x BM.GPU.H100.8 = 128 GPUs, as one Ray cluster.

Node 0 runs the Ray head, nodes 1-15 join it. The 16 nodes are one RDMA cluster network (an
instance pool, as oracle-quickstart/oci-hpc builds HPC clusters): they boot the same user_data
and each finds its index in the roster Terraform writes (docs/cluster-network.md). Every node
uses oci-hpc's NCCL settings and mounts one File Storage file system at /mnt/shared for the
weights, the data and the checkpoints every rank reads and writes. Submit the job to the head:
`ray job submit --address http://<head>:8265 -- python3 -m verl.trainer.main_ppo ...`. The
planner checks full fine-tuning with Adam in host memory against each node's 2 TB.
"""

from infra.specs import (
    Deployment,
    Model,
    NodeGroup,
    SharedStorage,
    Training,
    TrainingStackSpec,
)

stack = TrainingStackSpec(
    deployment=Deployment(
        name="deepseek-r1-rl",
        region="us-ashburn-1",
        ssh_allowed_cidrs=["198.51.100.0/24"],  # replace with your office or VPN range
        api_allowed_cidrs=["198.51.100.0/24"],
    ),
    nodes=NodeGroup(
        shape="BM.GPU.H100.8", count=16, boot_volume_gb=2048, placement="cluster_network"
    ),
    model=Model(id="deepseek-ai/DeepSeek-R1"),
    training=Training(
        launcher="ray",
        image="verlai/verl",
        tag="app-verl0.5-transformers4.55.4-vllm0.10.0-mcore0.13.0-te2.2",
        task="full",
        seq_len=4096,
    ),
    shared_storage=SharedStorage(mount_path="/mnt/shared", size_hint_gb=8000),
)
