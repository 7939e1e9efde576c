"""GpuStack: one deployment as one Terraform stack (provider, variables, backend, outputs)."""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class StackVariables:
    """References to the stack's Terraform variables; None for one the stack does not declare."""

    tenancy: str
    compartment: str
    profile: str
    ssh_key: str
    """The variable's reference, or the key the stack file gives itself."""
    api_key_secret: str | None
    hub_token_secret: str | None
    node_image: str | None


class GpuStack(TerraformStack):
    """A stack spec synthesized to Terraform; OCIDs and secrets stay Terraform variables."""

    def __init__(self, scope: Construct, spec: AnyStack, plan: tuple[NodePlan, ...]) -> None:
        super().__init__(scope, spec.name)
        LocalBackend(self, path=state_path(spec.name))
        var = self._variables(spec)
        provider_args = {"tenancy_ocid": var.tenancy, "config_file_profile": var.profile}
        GenericProvider(
            self,
            "oci",
            oci.PROVIDER_SOURCE,
            oci.PROVIDER_VERSION,
            {"region": spec.deployment.region, **provider_args},
        )
        cluster = GpuCluster(self, "cluster", _cluster_props(spec, plan, var, provider_args))
        self._node_outputs(spec, plan, cluster)
        self._access_outputs(cluster)

    def _variables(self, spec: AnyStack) -> StackVariables:
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
        serving = spec if isinstance(spec, StackSpec) else None
        # Only an engine that checks an API key needs the secret (and the dynamic group and
        # policy that let the nodes read it); Ollama has no API-key option at all.
        secret = (
            self._var("api_key_secret_ocid", "OCID of the OCI Vault secret holding the API key.")
            if serving and serving.uses_api_key
            else None
        )
        # A private or gated hub repo: the weights pull's token, read by the nodes the same way.
        hub_token = (
            self._var(
                "hub_token_secret_ocid",
                "OCID of the OCI Vault secret holding the model hub token (a private or gated "
                "repo; the nodes' weights pull sends it to the hub alone).",
            )
            if serving and serving.uses_hub_token
            else None
        )
        return StackVariables(
            tenancy=tenancy,
            compartment=compartment,
            profile=profile.string_value,
            ssh_key=ssh_key,
            api_key_secret=secret,
            hub_token_secret=hub_token,
            node_image=self._image_variable(spec),
        )

    def _image_variable(self, spec: AnyStack) -> str | None:
        """A custom image without an OCID in the stack file: its OCID is a variable."""
        image = spec.nodes.image
        if not image.custom or image.ocid is not None:
            return None
        return self._var(
            IMAGE_VARIABLE,
            f"OCID of the custom {image.operating_system} {image.operating_system_version} "
            f"image for the {spec.nodes.shape} nodes, with the GPU driver (ROCm on AMD); "
            "oracle-quickstart/oci-hpc documentation/Prerequisites.md lists images to import.",
        )

    def _node_outputs(
        self, spec: AnyStack, plan: tuple[NodePlan, ...], cluster: GpuCluster
    ) -> None:
        instances = cluster.nodes.instances
        ips = [i.private_ip for i in instances]
        self._out("node_private_ips", ips, "Private IPs of the GPU nodes, head first.")
        self._out(
            "nodes",
            [
                {**_node_output(n), "private_ip": i.private_ip, "instance_id": i.id}
                for n, i in zip(plan, instances, strict=True)
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
            for n, i in zip(plan, instances, strict=True)
            if n.context.ray is not None and n.context.ray.role == "head"
        ]
        if ray_heads:
            self._out(
                "ray_head_addresses",
                ray_heads,
                "Ray GCS address of each cluster head (ray status --address=...), VCN only.",
            )

    def _access_outputs(self, cluster: GpuCluster) -> None:
        user = cluster.node_user
        bastion_ip = cluster.bastion.public_ip
        self._out("ssh_user", user, "Login user of the GPU nodes' image (the bastion's is opc).")
        self._out("bastion_public_ip", bastion_ip, "The bastion's public IP.")
        if cluster.endpoint is not None:
            self._out("endpoint_url", cluster.endpoint.url, "OpenAI-compatible base URL.")
        self._out(
            "ssh_command",
            f"ssh -J opc@{bastion_ip} {user}@{cluster.nodes.instances[0].private_ip}",
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


def _cluster_props(
    spec: AnyStack,
    plan: tuple[NodePlan, ...],
    variables: StackVariables,
    provider_args: dict[str, str],
) -> GpuClusterProps:
    return GpuClusterProps(
        stack=spec,
        plan=plan,
        tenancy_id=variables.tenancy,
        compartment_id=variables.compartment,
        values=ApplyTimeValues(
            ssh_authorized_keys=variables.ssh_key,
            api_key_secret_id=variables.api_key_secret or "",
            head_ip="",
            hub_token_secret_id=variables.hub_token_secret or "",
        ),
        provider_args=provider_args,
        node_image_id=variables.node_image,
    )
