"""DeepSeek-R1-Distill-Llama-70B with SGLang (ROCm) on one BM.GPU.MI300X.8."""

from infra.specs import Deployment, Engine, Image, Model, NodeGroup, StackSpec

stack = StackSpec(
    deployment=Deployment(
        name="r1-distill-llama-70b-sglang",
        region="us-chicago-1",
        ssh_allowed_cidrs=["198.51.100.0/24"],  # replace with your office or VPN range
        api_allowed_cidrs=["198.51.100.0/24"],
    ),
    # No OCI platform image carries ROCm: import oci-hpc's Ubuntu 22.04 ROCm image
    # (oracle-quickstart/oci-hpc documentation/Prerequisites.md, "Images") and pass its OCID
    # as TF_VAR_node_image_ocid.
    nodes=NodeGroup(
        shape="BM.GPU.MI300X.8",
        count=1,
        image=Image(
            operating_system="Canonical Ubuntu", operating_system_version="22.04", custom=True
        ),
    ),
    model=Model(id="deepseek-ai/DeepSeek-R1-Distill-Llama-70B", precision="bf16"),
    engine=Engine(kind="sglang", image="lmsysorg/sglang", tag="v0.5.4-rocm630-mi30x"),
)
