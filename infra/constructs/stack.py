"""GpuStack: one deployment as one Terraform stack (provider, variables, backend, outputs)."""

from __future__ import annotations

from ..node_metadata import ApplyTimeValues
from ..node_plan import NodePlan
from ..specs import AnyStack, StackSpec
from ..specs.nodes import IMAGE_VARIABLE
from ..tf import oci
from ..tf.cdk import (
    Construct,
    GenericProvider,
    LocalBackend,
    TerraformOutput,
    TerraformStack,
    TerraformVariable,
)
from .gpu_cluster import GpuCluster, GpuClusterProps


def state_path(stack: str) -> str:
    """Where the local backend keeps `stack`'s state, relative to its synthesized folder.

    Terraform runs in <out>/stacks/<stack>/, which every synth replaces, so the state must live
    outside it: beside <out>, as cdktf's own default does (`terraform.<stack>.tfstate` in the
    project). Relative, so the synthesized JSON is the same wherever the repo is checked out.
    """
    return f"../../../terraform.{stack}.tfstate"


class GpuStack(TerraformStack):
    """A stack spec synthesized to Terraform; OCIDs and secrets stay Terraform variables."""

    def __init__(self, scope: Construct, spec: AnyStack, plan: tuple[NodePlan, ...]) -> None:
        super().__init__(scope, spec.name)
        LocalBackend(self, path=state_path(spec.name))
        tenancy = self._var("tenancy_ocid", "OCID of the tenancy (dynamic groups live there).")
        compartment = self._var("compartment_ocid", "OCID of the compartment to deploy into.")
        profile = TerraformVariable(
            self,
            "oci_config_profile",
            type="string",
            default="DEFAULT",
            description="Profile in ~/.oci/config that Terraform authenticates with.",
        )
        ssh_key = spec.deployment.ssh_public_key or self._var(
            "ssh_public_key", "OpenSSH public key installed for the nodes' login user."
        )
        # Only an engine that checks an API key needs the secret (and the dynamic group and
        # policy that let the nodes read it); Ollama has no API-key option at all.
        secret = (
            self._var("api_key_secret_ocid", "OCID of the OCI Vault secret holding the API key.")
            if isinstance(spec, StackSpec) and spec.uses_api_key
            else None
        )
        # A private or gated hub repo: the weights pull's token, read by the nodes the same way.
        hub_token = (
            self._var(
                "hub_token_secret_ocid",
                "OCID of the OCI Vault secret holding the model hub token (a private or gated "
                "repo; the nodes' weights pull sends it to the hub alone).",
            )
            if isinstance(spec, StackSpec) and spec.uses_hub_token
            else None
        )
        image = spec.nodes.image
        node_image = (
            self._var(
                IMAGE_VARIABLE,
                f"OCID of the custom {image.operating_system} {image.operating_system_version} "
                f"image for the {spec.nodes.shape} nodes, with the GPU driver (ROCm on AMD); "
                "oracle-quickstart/oci-hpc documentation/Prerequisites.md lists images to import.",
            )
            if image.custom and image.ocid is None
            else None
        )
        provider_args = {"tenancy_ocid": tenancy, "config_file_profile": profile.string_value}
        GenericProvider(
            self,
            "oci",
            oci.PROVIDER_SOURCE,
            oci.PROVIDER_VERSION,
            {"region": spec.deployment.region, **provider_args},
        )
        cluster = GpuCluster(
            self,
            "cluster",
            GpuClusterProps(
                stack=spec,
                plan=plan,
                tenancy_id=tenancy,
                compartment_id=compartment,
                values=ApplyTimeValues(
                    ssh_authorized_keys=ssh_key,
                    api_key_secret_id=secret or "",
                    head_ip="",
                    hub_token_secret_id=hub_token or "",
                ),
                provider_args=provider_args,
                node_image_id=node_image,
            ),
        )
        ips = [i.private_ip for i in cluster.nodes.instances]
        user = cluster.node_user
        self._out("node_private_ips", ips, "Private IPs of the GPU nodes, head first.")
        self._out(
            "nodes",
            [
                {**_node_output(n), "private_ip": i.private_ip, "instance_id": i.id}
                for n, i in zip(plan, cluster.nodes.instances, strict=True)
            ],
            "The node plan (index, name, role, replica, head, steps, bundle) with each private IP.",
        )
        self._out(
            "stack",
            spec.deployment.name,
            "The stack's name: day-2 commands refuse outputs saved from another stack.",
        )
        self._out("region", spec.deployment.region, "The stack's OCI region (for the OCI SDK).")
        ray_heads = [
            f"{i.private_ip}:{n.context.ray.gcs_port}"
            for n, i in zip(plan, cluster.nodes.instances, strict=True)
            if n.context.ray is not None and n.context.ray.role == "head"
        ]
        if ray_heads:
            self._out(
                "ray_head_addresses",
                ray_heads,
                "Ray GCS address of each cluster head (ray status --address=...), VCN only.",
            )
        self._out("ssh_user", user, "Login user of the GPU nodes' image (the bastion's is opc).")
        self._out("bastion_public_ip", cluster.bastion.public_ip, "The bastion's public IP.")
        if cluster.endpoint is not None:
            self._out("endpoint_url", cluster.endpoint.url, "OpenAI-compatible base URL.")
        self._out(
            "ssh_command",
            f"ssh -J opc@{cluster.bastion.public_ip} {user}@{ips[0]}",
            "SSH to the head node through the bastion.",
        )

    def _var(self, name: str, description: str) -> str:
        return str(
            TerraformVariable(self, name, type="string", description=description).string_value
        )

    def _out(self, name: str, value: object, description: str) -> None:
        TerraformOutput(self, name, value=value, description=description)


def _node_output(n: NodePlan) -> dict[str, object]:
    """What day-2 commands read of a node from `terraform output -json nodes`."""
    d = n.as_dict()
    return {
        k: d[k] for k in ("index", "name", "hostname", "role", "replica", "head", "ray_role")
    } | {"steps": d["steps"], "bundle": d["bundle"]}
