"""The `metadata`, `api_key` and `hub_token` context parts: the instance-metadata keys a node
reads at boot, and where the secrets they name go (the secrets never pass through here)."""

from __future__ import annotations

from dataclasses import dataclass

from .. import node_metadata
from ..engines import ApiKeySupport


@dataclass(frozen=True)
class MetadataKey:
    """One instance-metadata key and the node.env variable it becomes."""

    key: str
    var: str
    required: bool


@dataclass(frozen=True)
class ApiKeyPart:
    """Where the API key goes on the node; the key itself never passes through here."""

    secret_id_key: str
    secret_id_var: str
    env_file: str
    support: ApiKeySupport


@dataclass(frozen=True)
class HubTokenPart:
    """Where a private or gated hub repo's token goes on the node, for the weights pull alone;
    the token itself never passes through here."""

    secret_id_key: str
    secret_id_var: str
    env_file: str
    env_var: str = "HF_TOKEN"
    """The hub's own name for it (huggingface_hub reads HF_TOKEN); the pull reads the file."""


def metadata_keys(*, hub_token: bool) -> tuple[MetadataKey, ...]:
    # The stack name is always set by Terraform, so it doubles as the "IMDS reachable" probe.
    return tuple(
        MetadataKey(k, k.upper(), required=k == node_metadata.STACK)
        for k in node_metadata.boot_keys(hub_token=hub_token)
    )
