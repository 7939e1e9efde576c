"""The stack's boot bucket and its bundles: each an object with a read-only PAR of its own
(docs/bundles.md).

A node's stage-0 user_data pins the sha256 of its bundle; the bundle itself is an object here,
named by that hash, and the node reads it through a PAR that can GET that one object and
nothing else. The PAR's URL is an apply-time value, so it reaches the node as the metadata key
`gpuform_bundle_urls`, never through user_data.

Lifetimes. A changed file is a new bundle: a new object name, a new object, a new PAR, both
created before the old ones go (create_before_destroy), so no node that boots meanwhile finds
its bundle missing. An unchanged bundle keeps its object and PAR for the stack's life: the
object's `content` is kept in state as its MD5 (the provider's StateFunc), and the PAR's
`time_expires`, ten years out from creation, is ignored after create, so a re-plan changes
nothing and no instance or instance configuration sees a new URL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..render.bundle import Bundle
from ..tf import oci
from ..tf.cdk import Construct

#: As the roster's PAR (infra/constructs/roster.py): ten years from creation, then ignored.
PAR_LIFETIME = "87600h"


@dataclass(frozen=True)
class BootBucketProps:
    name: str
    """The stack's name: the bucket is `<name>-boot`."""
    compartment_id: str
    region: str
    """The stack's region, for the PARs' URLs."""


class BootBucket(Construct):
    """A private bucket of the stack's own for what nodes read at boot: bundles, the roster.

    Not the weights bucket, even where the stack has one: that one may be the user's own
    (weights.create=False), and gpuform writes and deletes objects only where it made the bucket.
    """

    def __init__(self, scope: Construct, id: str, props: BootBucketProps) -> None:
        super().__init__(scope, id)
        self.props = props
        self.namespace = oci.ObjectStorageNamespace(
            self, "namespace", oci.ObjectStorageNamespaceArgs(compartment_id=props.compartment_id)
        ).namespace
        bucket = oci.ObjectStorageBucket(
            self,
            "bucket",
            oci.ObjectStorageBucketArgs(
                compartment_id=props.compartment_id,
                name=f"{props.name}-boot",
                namespace=self.namespace,
                freeform_tags={"gpuform-stack": props.name},
            ),
        )
        self.bucket = bucket.name
        """A reference, so what uses it waits for the bucket."""

    def read_only_url(
        self,
        scope: Construct,
        id: str,
        object_name: str,
        par_name: str,
        create_before_destroy: bool = False,
    ) -> str:
        """A PAR that may GET `object_name` alone (no listing, no write); its full URL.

        `bucket_listing_action` stays unset: the provider reads it back empty for an
        ObjectRead PAR, and a set value would replace the PAR on every plan.
        """
        par = oci.ObjectStoragePreauthRequest(
            scope,
            id,
            oci.ObjectStoragePreauthRequestArgs(
                access_type="ObjectRead",
                bucket=self.bucket,
                name=par_name,
                namespace=self.namespace,
                object_name=object_name,
                time_expires=f'${{timeadd(timestamp(), "{PAR_LIFETIME}")}}',
            ),
            # timestamp() is new on every plan, and every argument of a PAR forces a new one
            # with a new URL: fixed on create, the URL in the nodes' metadata stays put.
            ignore_changes=("time_expires",),
            create_before_destroy=create_before_destroy,
        )
        return f"https://objectstorage.{self.props.region}.oraclecloud.com{par.access_uri}"


class Bundles(Construct):
    """One object and one read-only PAR per distinct bundle of the stack."""

    def __init__(self, scope: Construct, id: str, boot: BootBucket, bundles: Sequence[Bundle]):
        super().__init__(scope, id)
        self._urls: dict[str, str] = {}
        stack = boot.props.name
        # Addressed by position (bundle_0, ...), not hash: a changed bundle is then a
        # replacement Terraform's plan shows as such, created before the old one is deleted.
        for k, b in enumerate(bundles):
            obj = oci.ObjectStorageObject(
                self,
                f"object_{k}",
                oci.ObjectStorageObjectArgs(
                    bucket=boot.bucket,
                    namespace=boot.namespace,
                    object=b.object_name,
                    content=b.object_text,
                    content_type="text/plain",
                ),
                create_before_destroy=True,
            )
            self._urls[b.sha256] = boot.read_only_url(
                self,
                f"par_{k}",
                obj.object,  # the object first, then its PAR
                f"gpuform-{stack}-bundle-{b.sha256[:16]}",
                create_before_destroy=True,
            )

    def urls(self, bundles: Sequence[Bundle]) -> str:
        """The metadata value naming `bundles`' URLs, in that order."""
        return " ".join(self._urls[b.sha256] for b in bundles)
