"""WeightStore: the bucket a stack's weights live in, a read-only PAR, and the block volumes that
cache them next to the GPUs (docs/weights.md).

Reads by the nodes are granted through InstanceAccess (`weights_bucket`); this construct only
makes the storage. Apply-time values the nodes need (the namespace, the PAR's URL) are exposed
for GpuNodes to pass as instance metadata.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..render.weights_part import VolumePart
from ..specs import WeightCache
from ..tf import oci
from ..tf.cdk import Construct, operand
from ..tf.resources import Condition

ISCSI, PARAVIRTUALIZED = "iscsi", "paravirtualized"


@dataclass(frozen=True)
class WeightStoreProps:
    name: str
    compartment_id: str
    region: str
    spec: WeightCache


class WeightStore(Construct):
    """A private bucket (or a reference to one), its namespace, and an optional read-only PAR."""

    def __init__(self, scope: Construct, id: str, props: WeightStoreProps) -> None:
        super().__init__(scope, id)
        self._props = props
        spec = props.spec
        self.namespace = oci.ObjectStorageNamespace(
            self, "namespace", oci.ObjectStorageNamespaceArgs(compartment_id=props.compartment_id)
        ).namespace
        self.bucket_name = spec.bucket
        """The bucket's name as the policy's `target.bucket.name` condition needs it."""
        bucket_ref = spec.bucket
        if spec.create:
            bucket = oci.ObjectStorageBucket(
                self,
                "bucket",
                oci.ObjectStorageBucketArgs(
                    compartment_id=props.compartment_id,
                    name=spec.bucket,
                    namespace=self.namespace,
                    freeform_tags={"gpuform-stack": props.name},
                ),
            )
            bucket_ref = bucket.name  # so the PAR waits for the bucket
        else:
            bucket_ref = self._existing(spec.bucket, props.compartment_id).name
        self.par_url = ""
        """https://objectstorage.REGION.oraclecloud.com/p/TOKEN/n/NS/b/BUCKET/o/, or ""."""
        expires = spec.par_expires_rfc3339
        if expires is not None:
            # AnyObjectRead on the bucket: the node GETs objects it knows by name from the
            # manifest, and nothing with the URL can write. Listing is denied without saying
            # so: OCI's default bucket_listing_action is Deny (docs.oracle.com, "Creating a
            # Pre-Authenticated Request for All Objects in a Bucket"), and the attribute must
            # not be sent. The provider declares it Optional+Computed+ForceNew, but its read
            # (objectstorage_preauthrequest_resource.go, Get()) copies no BucketListingAction
            # into the state, so SetData stores "": a configured "Deny" then diffs "" -> "Deny"
            # on every plan and replaces the PAR (a new URL, and with it a cluster network's
            # instance configuration). Unset, Computed keeps whatever the read stored.
            par = oci.ObjectStoragePreauthRequest(
                self,
                "par",
                oci.ObjectStoragePreauthRequestArgs(
                    access_type="AnyObjectRead",
                    bucket=bucket_ref,
                    name=f"gpuform-{props.name}-weights",
                    namespace=self.namespace,
                    time_expires=expires,
                ),
            )
            self.par_url = f"https://objectstorage.{props.region}.oraclecloud.com{par.access_uri}"
        self.volumes: list[oci.CoreVolume] = []
        self.attachments: list[oci.CoreVolumeAttachment] = []

    def _existing(self, bucket: str, compartment_id: str) -> oci.ObjectStorageBucketLookup:
        """The bucket the stack names but does not create, read at plan time: a missing one
        stops the plan, and so does one in another compartment, which the nodes' read policy
        (granted in the stack's compartment, infra/constructs/access.py) would not cover."""
        return oci.ObjectStorageBucketLookup(
            self,
            "bucket",
            oci.ObjectStorageBucketLookupArgs(name=bucket, namespace=self.namespace),
            postconditions=[
                Condition(
                    condition=f"${{self.compartment_id == {operand(compartment_id)}}}",
                    error_message=(
                        f"Bucket {bucket} is in another compartment than the stack's; the "
                        "nodes may read only buckets in the stack's compartment. Move it, or "
                        "set weights.create=True for a new one."
                    ),
                )
            ],
        )

    def attach(
        self, instances: Sequence[oci.NodeInstance], availability_domain: str, bare_metal: bool
    ) -> None:
        """Block volume(s) for `instances`: one shared read-only, or one clone each."""
        vol = self._props.spec.volume
        if vol is None:
            return
        node = VolumePart(read_only=vol.mode == "shared-read-only")
        source = (
            oci.VolumeSourceDetails(type="volumeBackup", id=vol.backup_id)
            if vol.backup_id
            else None
        )

        def volume(id: str, display: str) -> oci.CoreVolume:
            v = oci.CoreVolume(
                self,
                id,
                oci.CoreVolumeArgs(
                    availability_domain=availability_domain,
                    compartment_id=self._props.compartment_id,
                    display_name=display,
                    size_in_gbs=str(vol.size_gb),
                    vpus_per_gb=str(vol.vpus_per_gb),
                    source_details=source,
                    freeform_tags={"gpuform-stack": self._props.name},
                ),
            )
            self.volumes.append(v)
            return v

        shared = volume("volume", f"{self._props.name}-weights") if node.read_only else None
        for i, inst in enumerate(instances):
            v = shared or volume(f"volume_{i}", f"{self._props.name}-weights-node-{i}")
            self.attachments.append(
                oci.CoreVolumeAttachment(
                    self,
                    f"attachment_{i}",
                    oci.CoreVolumeAttachmentArgs(
                        # Bare metal attaches block volumes over iSCSI; the agent logs in, for
                        # non-multipath attachments (provider docs, volume_attachment).
                        attachment_type=ISCSI if bare_metal else PARAVIRTUALIZED,
                        instance_id=inst.id,
                        volume_id=v.id,
                        device=node.device,
                        display_name=f"{self._props.name}-weights-node-{i}",
                        is_read_only=True if node.read_only else None,
                        is_shareable=True if node.read_only else None,
                        is_agent_auto_iscsi_login_enabled=True if bare_metal else None,
                        is_pv_encryption_in_transit_enabled=None if bare_metal else True,
                    ),
                )
            )
