"""DeepSeek-R1 (671B MoE, FP8) with vLLM on 2 x BM.GPU.H100.8: TP 8 in each node, 2 pipeline
stages over RDMA, Ray as its own unit on both nodes."""

from infra.specs import Deployment, Engine, Model, NodeGroup, StackSpec

stack = StackSpec(
    deployment=Deployment(
        name="deepseek-r1-2x-h100",
        region="us-ashburn-1",
        ssh_allowed_cidrs=["198.51.100.0/24"],  # replace with your office or VPN range
        api_allowed_cidrs=["198.51.100.0/24"],
    ),
    # 673 GB of FP8 weights outgrow one node's 640 GB: the planner spans two, in a compute
    # cluster (RDMA), and would refuse count=1.
    nodes=NodeGroup(shape="BM.GPU.H100.8", count=2, boot_volume_gb=2048),
    model=Model(id="deepseek-ai/DeepSeek-R1", precision="fp8"),
    engine=Engine(kind="vllm", max_model_len=32768),
)
