"""DeepSeek-R1-Distill-Llama-70B with vLLM (ROCm) on one BM.GPU.MI300X.8, 126k context."""

from infra.specs import Deployment, Engine, Image, Model, NodeGroup, StackSpec

stack = StackSpec(
    deployment=Deployment(
        name="r1-distill-llama-70b-vllm",
        region="us-chicago-1",
        vcn_cidr="10.1.0.0/16",
        public_subnet_cidr="10.1.0.0/24",
        private_subnet_cidr="10.1.16.0/20",
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
    engine=Engine(
        kind="vllm",
        image="rocm/vllm",
        tag="rocm6.4.1_vllm_0.10.1_20250909",
        max_model_len=126432,
    ),
)
