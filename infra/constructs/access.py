"""InstanceAccess: what the nodes may read by instance principal (dynamic group + policy)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..tf import oci
from ..tf.cdk import Construct


@dataclass(frozen=True)
class InstanceAccessProps:
    name: str
    tenancy_id: str
    compartment_id: str
    api_key_secret_id: str | None
    weights_bucket: str | None = None
    """The bucket the nodes read their weights from (docs/weights.md)."""


class InstanceAccess(Construct):
    """A dynamic group of the compartment's instances, allowed exactly the reads they need."""

    def __init__(self, scope: Construct, id: str, props: InstanceAccessProps) -> None:
        super().__init__(scope, id)
        group = f"gpuform-{props.name}"
        self.dynamic_group = oci.IdentityDynamicGroup(
            self,
            "nodes",
            oci.DynamicGroupArgs(
                compartment_id=props.tenancy_id,  # dynamic groups live in the tenancy
                name=group,
                description=f"gpuform {props.name}: instances that may read the stack's secret",
                matching_rule=f"ALL {{instance.compartment.id = '{props.compartment_id}'}}",
            ),
        )
        oci.IdentityPolicy(
            self,
            "policy",
            oci.PolicyArgs(
                compartment_id=props.compartment_id,
                name=group,
                description=f"gpuform {props.name}: reads by instance principal",
                statements=list(_statements(group, props)),
            ),
            depends_on=[self.dynamic_group],
        )


def _statements(group: str, props: InstanceAccessProps) -> Iterator[str]:
    # One secret, by OCID: the nodes can read their API key and nothing else in the vault.
    if props.api_key_secret_id:
        yield (
            f"Allow dynamic-group {group} to read secret-bundles in compartment id "
            f"{props.compartment_id} where target.secret.id = '{props.api_key_secret_id}'"
        )
    # Objects of one bucket: `read objects` is GET and HEAD of an object (and listing), and
    # the condition keeps every other bucket of the compartment out of reach.
    if props.weights_bucket:
        yield (
            f"Allow dynamic-group {group} to read objects in compartment id "
            f"{props.compartment_id} where target.bucket.name = '{props.weights_bucket}'"
        )
