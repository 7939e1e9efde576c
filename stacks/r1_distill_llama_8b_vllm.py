"""DeepSeek-R1-Distill-Llama-8B with vLLM on one A10 (24 GB), 4k context."""

from infra.specs import Deployment, Engine, Model, NodeGroup, StackSpec

stack = StackSpec(
    deployment=Deployment(
        name="r1-distill-llama-8b",
        region="us-ashburn-1",
        ssh_allowed_cidrs=["198.51.100.0/24"],  # replace with your office or VPN range
        api_allowed_cidrs=["198.51.100.0/24"],
    ),
    nodes=NodeGroup(shape="VM.GPU.A10.1", count=1, boot_volume_gb=200),
    model=Model(id="deepseek-ai/DeepSeek-R1-Distill-Llama-8B", precision="bf16"),
    engine=Engine(kind="vllm", image="vllm/vllm-openai", tag="v0.11.0", max_model_len=4096),
)
