"""DeepSeek-R1 (671B MoE, FP8) with SGLang on one BM.GPU.H200.8, tensor-parallel 8."""

from infra.specs import Deployment, Engine, Model, NodeGroup, StackSpec

stack = StackSpec(
    deployment=Deployment(
        name="deepseek-r1-h200",
        region="us-ashburn-1",
        ssh_allowed_cidrs=["198.51.100.0/24"],  # replace with your office or VPN range
        api_allowed_cidrs=["198.51.100.0/24"],
    ),
    nodes=NodeGroup(
        shape="BM.GPU.H200.8", count=1, boot_volume_gb=2048, boot_volume_vpus_per_gb=30
    ),
    model=Model(id="deepseek-ai/DeepSeek-R1", precision="fp8"),
    engine=Engine(
        kind="sglang",
        image="lmsysorg/sglang",
        tag="v0.5.4-cu126",
        tensor_parallel_size=8,
        extra_args=("--trust-remote-code",),
    ),
)
