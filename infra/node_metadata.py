"""Instance metadata keys gpuform sets on each node: the contract between Terraform and boot.

Values known at synth time are baked into the cloud-config. Values known only at apply time (a
secret's OCID, the head node's IP, the Object Storage namespace) travel as these metadata keys;
the bootstrap reads them from the instance metadata service (IMDS v2,
http://169.254.169.254/opc/v2/instance/metadata/<key>, header `Authorization: Bearer Oracle`).
The boot test harness serves the same keys in the same JSON shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

USER_DATA = "user_data"
SSH_AUTHORIZED_KEYS = "ssh_authorized_keys"
STACK = "gpuform_stack"
NODE_INDEX = "gpuform_node_index"
NODE_COUNT = "gpuform_node_count"
API_KEY_SECRET_ID = "gpuform_api_key_secret_id"
HEAD_IP = "gpuform_head_ip"
#: The shared File Storage mount target's private IP (infra/constructs/file_storage.py);
#: "" when the stack has no shared storage.
SHARED_FS_IP = "gpuform_shared_fs_ip"
#: The Object Storage namespace of the weights bucket (instance-principal reads), and a
#: read-only PAR's URL when the stack asks for one (docs/weights.md); "" when unused.
WEIGHTS_NAMESPACE = "gpuform_weights_namespace"
WEIGHTS_URL = "gpuform_weights_url"
#: A read-only PAR URL of the cluster network's roster: "INDEX INSTANCE_OCID PRIVATE_IP" lines
#: Terraform writes once the pool's instances exist (docs/cluster-network.md); "" elsewhere.
ROSTER_URL = "gpuform_roster_url"
#: The OCI Vault secret holding a private or gated hub repo's token (Model.hub_token). Only
#: such stacks set it and only their nodes read it: every other stack's metadata and user_data
#: stay as they were, so adding the key replaces no cluster network's instance configuration.
HUB_TOKEN_SECRET_ID = "gpuform_hub_token_secret_id"
#: Read-only PAR URLs of the node's bundles (infra/constructs/bundles.py), separated by spaces,
#: in the order of the sha256 lines stage 0 pins: one for a node launched on its own, one per
#: kind of node on a cluster network. Read by stage 0 alone (docs/bundles.md).
BUNDLE_URLS = "gpuform_bundle_urls"

#: Keys the bootstrap reads at boot (user_data and ssh keys are consumed by cloud-init itself).
BOOT_KEYS = (
    STACK,
    NODE_INDEX,
    NODE_COUNT,
    API_KEY_SECRET_ID,
    HEAD_IP,
    SHARED_FS_IP,
    WEIGHTS_NAMESPACE,
    WEIGHTS_URL,
    ROSTER_URL,
)


def boot_keys(*, hub_token: bool) -> tuple[str, ...]:
    """The keys a node of a stack reads at boot: BOOT_KEYS, and the hub token's secret where
    the stack asks for one."""
    return (*BOOT_KEYS, HUB_TOKEN_SECRET_ID) if hub_token else BOOT_KEYS


@dataclass(frozen=True)
class ApplyTimeValues:
    """Values Terraform resolves at apply time (tokens at synth, fakes in the boot harness)."""

    ssh_authorized_keys: str
    api_key_secret_id: str
    head_ip: str
    shared_fs_ip: str = ""
    weights_namespace: str = ""
    weights_url: str = ""
    roster_url: str = ""
    hub_token_secret_id: str = ""
    """Set only on stacks that ask for a hub token; "" leaves the key out of the metadata."""
    bundle_urls: str = ""
    """The node's bundles' PAR URLs, space-separated in stage 0's order."""


def instance_metadata(
    *, stack: str, node_index: int, node_count: int, user_data_b64: str, values: ApplyTimeValues
) -> Mapping[str, str]:
    """The `metadata` map of one node, exactly as Terraform sets it (all values are strings)."""
    return {
        SSH_AUTHORIZED_KEYS: values.ssh_authorized_keys,
        USER_DATA: user_data_b64,
        STACK: stack,
        NODE_INDEX: str(node_index),
        NODE_COUNT: str(node_count),
        API_KEY_SECRET_ID: values.api_key_secret_id,
        HEAD_IP: values.head_ip,
        SHARED_FS_IP: values.shared_fs_ip,
        WEIGHTS_NAMESPACE: values.weights_namespace,
        WEIGHTS_URL: values.weights_url,
        ROSTER_URL: values.roster_url,
        BUNDLE_URLS: values.bundle_urls,
    } | ({HUB_TOKEN_SECRET_ID: values.hub_token_secret_id} if values.hub_token_secret_id else {})


def pool_metadata(
    *, stack: str, node_count: int, user_data_b64: str, values: ApplyTimeValues
) -> Mapping[str, str]:
    """The `metadata` of a cluster network's instance configuration, shared by every node.

    A pool launches identical instances, so nothing per node can be here: the node index and
    the head's IP stay empty until the node finds itself in the roster at `values.roster_url`.
    """
    if not values.roster_url:
        raise ValueError("a cluster network's nodes need the roster's URL")
    shared = instance_metadata(
        stack=stack, node_index=0, node_count=node_count, user_data_b64=user_data_b64,
        values=values,
    )  # fmt: skip
    return {**shared, NODE_INDEX: "", HEAD_IP: ""}
