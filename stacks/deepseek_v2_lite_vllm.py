"""DeepSeek-V2-Lite (16B MoE) with vLLM on BM.GPU.L40S.4 (48 GB per GPU)."""

from infra.specs import Deployment, Engine, Model, NodeGroup, StackSpec

stack = StackSpec(
    deployment=Deployment(
        name="deepseek-v2-lite",
        region="eu-frankfurt-1",
        ssh_allowed_cidrs=["198.51.100.0/24"],  # replace with your office or VPN range
        api_allowed_cidrs=["198.51.100.0/24"],
    ),
    nodes=NodeGroup(shape="BM.GPU.L40S.4", count=1),
    model=Model(id="deepseek-ai/DeepSeek-V2-Lite", precision="bf16"),
    engine=Engine(
        kind="vllm",
        image="vllm/vllm-openai",
        tag="v0.11.0",
        extra_args=("--trust-remote-code",),
    ),
)
