"""Roster: the object a cluster network's nodes read their index from (docs/cluster-network.md).

A pool launches every node from one instance configuration, so the nodes share one user_data
and one metadata map; nothing there can say which node is which. Terraform writes the roster
once the pool's instances exist: one line per node, `INDEX INSTANCE_OCID PRIVATE_IP`, in the
order Terraform chose. The nodes read it through a read-only PAR whose URL is in their metadata,
and find their own line by their instance OCID.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..tf import oci
from ..tf.cdk import Construct
from ..tf.resources import Condition

ROSTER_OBJECT = "roster"
"""The roster's object name in its bucket, and the one object its PAR can read."""

#: Ten years from the PAR's creation. The expiry is fixed on create and ignored afterwards
#: (see Roster), so the URL in the nodes' metadata stays the same for the stack's life.
PAR_LIFETIME = "87600h"


@dataclass(frozen=True)
class RosterProps:
    name: str
    """The stack's name: the bucket is `<name>-roster`."""
    compartment_id: str
    region: str
    """The stack's region, for the PAR's URL."""


class Roster(Construct):
    """A private bucket, a read-only PAR on its one object, and (after `write`) the object."""

    def __init__(self, scope: Construct, id: str, props: RosterProps) -> None:
        super().__init__(scope, id)
        self._props = props
        self._namespace = oci.ObjectStorageNamespace(
            self, "namespace", oci.ObjectStorageNamespaceArgs(compartment_id=props.compartment_id)
        ).namespace
        bucket = oci.ObjectStorageBucket(
            self,
            "bucket",
            oci.ObjectStorageBucketArgs(
                compartment_id=props.compartment_id,
                name=f"{props.name}-roster",
                namespace=self._namespace,
                freeform_tags={"gpuform-stack": props.name},
            ),
        )
        self._bucket = bucket.name  # a reference, so what uses it waits for the bucket
        # ObjectRead of one object name: whoever holds the URL can GET the roster and nothing
        # else, no listing, no write. timestamp() changes on every plan; ignoring time_expires
        # after create keeps the PAR, whose every argument forces a new one with a new URL,
        # and the instance configuration that carries that URL (a new one would only reach
        # nodes launched after it).
        par = oci.ObjectStoragePreauthRequest(
            self,
            "par",
            oci.ObjectStoragePreauthRequestArgs(
                access_type="ObjectRead",
                bucket=self._bucket,
                name=f"gpuform-{props.name}-roster",
                namespace=self._namespace,
                object_name=ROSTER_OBJECT,
                time_expires=f'${{timeadd(timestamp(), "{PAR_LIFETIME}")}}',
            ),
            ignore_changes=("time_expires",),
        )
        self.url = f"https://objectstorage.{props.region}.oraclecloud.com{par.access_uri}"
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
                bucket=self._bucket,
                namespace=self._namespace,
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
