"""Roster: the object a cluster network's nodes read their index from (docs/cluster-network.md).

A pool launches every node from one instance configuration, so the nodes share one user_data
and one metadata map; nothing there can say which node is which. Terraform writes the roster
once the pool's instances exist: one line per node, `INDEX INSTANCE_OCID PRIVATE_IP`, in the
order Terraform chose. The nodes read it through a read-only PAR whose URL is in their metadata,
and find their own line by their instance OCID.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..tf import oci
from ..tf.cdk import Construct
from ..tf.resources import Condition
from .bundles import BootBucket

ROSTER_OBJECT = "roster"
"""The roster's object name in the boot bucket, and the one object its PAR can read."""


class Roster(Construct):
    """A read-only PAR on the roster object of the boot bucket, and (after `write`) the object."""

    def __init__(self, scope: Construct, id: str, boot: BootBucket) -> None:
        super().__init__(scope, id)
        self._boot = boot
        # ObjectRead of one object name: whoever holds the URL can GET the roster and nothing
        # else, no listing, no write. The PAR exists before the object: the instance
        # configuration carries its URL, and the roster can only be written once the pool runs.
        self.url = boot.read_only_url(
            self, "par", ROSTER_OBJECT, f"gpuform-{boot.props.name}-roster"
        )
        """The roster's read-only URL, as the nodes' metadata carries it."""
        self.object: oci.ObjectStorageObject | None = None

    def write(
        self, instances: Sequence[oci.NodeInstance], guards: Sequence[Condition] = ()
    ) -> oci.ObjectStorageObject:
        """The roster object: line i names `instances[i]`, the node that is index i; Terraform
        writes none while a guard is false."""
        self.object = oci.ObjectStorageObject(
            self,
            "object",
            oci.ObjectStorageObjectArgs(
                bucket=self._boot.bucket,
                namespace=self._boot.namespace,
                object=ROSTER_OBJECT,
                content=roster_content(instances),
                content_type="text/plain",
            ),
            preconditions=guards,
        )
        return self.object


def roster_content(instances: Sequence[oci.NodeInstance]) -> str:
    """`INDEX INSTANCE_OCID PRIVATE_IP` per node, each line ending in a newline."""
    return "".join(f"{i} {node.id} {node.private_ip}\n" for i, node in enumerate(instances))
