"""InstanceAccess: what the nodes may read by instance principal (dynamic group + policy)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from ..tf import oci
from ..tf.cdk import Construct, GenericProvider


@dataclass(frozen=True)
class InstanceAccessProps:
    name: str
    tenancy_id: str
    compartment_id: str
    api_key_secret_id: str | None
    weights_bucket: str | None = None
    """The bucket the nodes read their weights from (docs/weights.md)."""
    hub_token_secret_id: str | None = None
    """The secret holding a private or gated hub repo's token (Model.hub_token)."""
    instance_ids: tuple[str, ...] = ()
    """The GPU instances the group admits, by OCID: nothing else in the compartment (the
    bastion with its public IP included) reads what they read."""
    provider_args: Mapping[str, str] = field(default_factory=dict)
    """The stack's provider settings (tenancy, profile); the region becomes the home region."""


class InstanceAccess(Construct):
    """A dynamic group of the stack's GPU instances, allowed exactly the reads they need.

    Identity resources are created in the tenancy's home region only; anywhere else the API
    answers 403 NotAllowed (oracle/terraform-provider-oci issues #296 and #1596). They go
    through a provider configured for the home region, found as the provider's example
    examples/concepts/identity_home_resolution finds it: the tenancy's home region key, then
    the region of that key. Nothing to set, and nothing to get wrong, per deployment.

    The group names the instances by OCID, so it is created after them; the nodes' API-key
    fetch retries within a bound while the group and policy take effect (api-key.sh). The
    instances cannot also depend on the policy: the group's rule needs their OCIDs.
    """

    def __init__(self, scope: Construct, id: str, props: InstanceAccessProps) -> None:
        super().__init__(scope, id)
        group = f"gpuform-{props.name}"
        self.home = _home_region(self, props)
        self.dynamic_group = oci.IdentityDynamicGroup(
            self,
            "nodes",
            oci.DynamicGroupArgs(
                compartment_id=props.tenancy_id,  # dynamic groups live in the tenancy
                name=group,
                description=f"gpuform {props.name}: the GPU nodes, which read the stack's secret",
                matching_rule=matching_rule(props.instance_ids),
            ),
            provider=self.home,
        )
        self.policy = oci.IdentityPolicy(
            self,
            "policy",
            oci.PolicyArgs(
                compartment_id=props.compartment_id,
                name=group,
                description=f"gpuform {props.name}: reads by instance principal",
                statements=list(_statements(group, props)),
            ),
            depends_on=[self.dynamic_group],
            provider=self.home,
        )


def matching_rule(instance_ids: tuple[str, ...]) -> str:
    """`ANY {instance.id = '...', ...}`: exactly these instances."""
    if not instance_ids:
        raise ValueError("a dynamic group needs at least one instance to admit")
    return "ANY {" + ", ".join(f"instance.id = '{i}'" for i in instance_ids) + "}"


def _home_region(scope: Construct, props: InstanceAccessProps) -> GenericProvider:
    tenancy = oci.IdentityTenancy(
        scope, "tenancy", oci.IdentityTenancyArgs(tenancy_id=props.tenancy_id)
    )
    home = oci.IdentityRegions(
        scope,
        "home_region",
        oci.IdentityRegionsArgs(filter=[oci.Filter(name="key", values=[tenancy.home_region_key])]),
    )
    return GenericProvider(
        scope,
        "oci",
        oci.PROVIDER_SOURCE,
        oci.PROVIDER_VERSION,
        {**props.provider_args, "region": home.first_name},
        alias="home",
    )


def _statements(group: str, props: InstanceAccessProps) -> Iterator[str]:
    # One secret, by OCID: the nodes can read their API key and nothing else in the vault.
    if props.api_key_secret_id:
        yield (
            f"Allow dynamic-group {group} to read secret-bundles in compartment id "
            f"{props.compartment_id} where target.secret.id = '{props.api_key_secret_id}'"
        )
    # The hub token's secret, by OCID, likewise: that secret and no other.
    if props.hub_token_secret_id:
        yield (
            f"Allow dynamic-group {group} to read secret-bundles in compartment id "
            f"{props.compartment_id} where target.secret.id = '{props.hub_token_secret_id}'"
        )
    # Objects of one bucket: `read objects` is GET and HEAD of an object (and listing), and
    # the condition keeps every other bucket of the compartment out of reach.
    if props.weights_bucket:
        yield (
            f"Allow dynamic-group {group} to read objects in compartment id "
            f"{props.compartment_id} where target.bucket.name = '{props.weights_bucket}'"
        )
