"""Megatron pre-training of DeepSeek-V2-Lite on one BM.GPU.H100.8: TP 1, PP 1, EP 8.

Every node gets /etc/gpuform/torchrun.env (MASTER_ADDR, MASTER_PORT, NODE_RANK, NNODES,
NPROC_PER_NODE and the parallel sizes), so the same torchrun command line runs unchanged when
`count` grows: then the nodes join a compute cluster with oci-hpc's NCCL settings.
"""

from infra.specs import Deployment, Model, NodeGroup, Training, TrainingStackSpec

stack = TrainingStackSpec(
    deployment=Deployment(
        name="deepseek-v2-lite-megatron",
        region="us-ashburn-1",
        ssh_allowed_cidrs=["198.51.100.0/24"],  # replace with your office or VPN range
        api_allowed_cidrs=["198.51.100.0/24"],
    ),
    nodes=NodeGroup(shape="BM.GPU.H100.8", count=1, boot_volume_gb=1024),
    model=Model(id="deepseek-ai/DeepSeek-V2-Lite"),
    training=Training(
        launcher="torchrun",
        image="nvcr.io/nvidia/pytorch",
        tag="25.04-py3",
        task="full",
        seq_len=4096,
        tensor_parallel_size=1,
        pipeline_parallel_size=1,
        expert_parallel_size=8,
    ),
)
