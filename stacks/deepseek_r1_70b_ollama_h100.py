"""Ollama serving deepseek-r1:70b on one BM.GPU.H100.8."""

from infra.specs import Deployment, Engine, Model, NodeGroup, StackSpec

stack = StackSpec(
    deployment=Deployment(
        name="deepseek-r1-70b-ollama",
        region="us-ashburn-1",
        ssh_allowed_cidrs=["198.51.100.0/24"],  # replace with your office or VPN range
        api_allowed_cidrs=["198.51.100.0/24"],
    ),
    nodes=NodeGroup(shape="BM.GPU.H100.8", count=1),
    model=Model(id="deepseek-r1:70b", precision="int4"),
    engine=Engine(kind="ollama", image="ollama/ollama", tag="0.12.6"),
)
