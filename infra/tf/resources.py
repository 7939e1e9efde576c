"""A small typed layer over cdktf's generic resources.

Each Terraform type gets an argument dataclass whose field names are the Terraform argument names
(nested dataclasses are blocks, tuples of them are repeated blocks) and a thin class that exposes
typed references such as `vcn.id`. The schema check (infra/tf/schema.py) holds every synthesized
resource to the provider's own schema, so a misspelt argument fails the tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, ClassVar, Generic, TypeVar

from .cdk import Construct, GenericDataSource, GenericProvider, GenericResource


@dataclass(frozen=True)
class Args:
    """Base of argument sets and nested blocks; None means "leave unset"."""

    def to_tf(self) -> dict[str, Any]:
        out = _to_tf(self)
        assert isinstance(out, dict)
        return out


def _to_tf(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _to_tf(v) for f in fields(value) if (v := getattr(value, f.name)) is not None
        }
    if isinstance(value, Mapping):
        return {k: _to_tf(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_to_tf(v) for v in value]
    return value


A = TypeVar("A", bound=Args)


class Resource(Generic[A]):
    """A managed Terraform resource with typed arguments."""

    tf_type: ClassVar[str]

    def __init__(
        self,
        scope: Construct,
        id: str,
        args: A,
        depends_on: Sequence[Resource[Any]] = (),
        ignore_changes: Sequence[str] = (),
        provider: GenericProvider | None = None,
        create_before_destroy: bool = False,
        preconditions: Sequence[Condition] = (),
        replace_triggered_by: Sequence[str] = (),
    ) -> None:
        self.args = args
        self._tf = GenericResource(scope, id, self.tf_type, args.to_tf())
        if provider is not None:
            # A second configuration of the provider (the tenancy's home region, for IAM).
            self._tf.add_override("provider", provider.reference)
        if depends_on:
            # Bare addresses: Terraform's JSON syntax rejects a "${...}" template here.
            self._tf.add_override("depends_on", [d.address for d in depends_on])
        lifecycle: dict[str, Any] = {}
        if ignore_changes:
            lifecycle["ignore_changes"] = list(ignore_changes)
        if create_before_destroy:
            # For what another resource must keep using while its replacement comes up.
            lifecycle["create_before_destroy"] = True
        if preconditions:
            lifecycle["precondition"] = [c.to_tf() for c in preconditions]
        if replace_triggered_by:
            # References (`TYPE.NAME.attr`), not templates: Terraform reads them as addresses.
            lifecycle["replace_triggered_by"] = list(replace_triggered_by)
        if lifecycle:
            self._tf.add_override("lifecycle", lifecycle)

    def attr(self, name: str) -> str:
        """A reference to an attribute, resolved by Terraform at apply time."""
        return str(self._tf.get_string_attribute(name))

    @property
    def id(self) -> str:
        return self.attr("id")

    @property
    def fqn(self) -> str:
        return str(self._tf.fqn)

    @property
    def address(self) -> str:
        """`TYPE.NAME` as plain text, for where Terraform wants an address and not a template
        (`replace_triggered_by`, `terraform apply -replace=` in a message)."""
        return f"{self.tf_type}.{self._tf.friendly_unique_id}"


class DataSource(Generic[A]):
    """A Terraform data source with typed arguments."""

    tf_type: ClassVar[str]

    def __init__(
        self,
        scope: Construct,
        id: str,
        args: A,
        depends_on: Sequence[Resource[Any]] = (),
        provider: GenericProvider | None = None,
        postconditions: Sequence[Condition] = (),
    ) -> None:
        self.args = args
        self._tf = GenericDataSource(scope, id, self.tf_type, args.to_tf())
        if provider is not None:
            self._tf.add_override("provider", provider.reference)
        if depends_on:
            # Read only once these exist (Terraform then reads it during apply, not plan).
            self._tf.add_override("depends_on", [d.address for d in depends_on])
        if postconditions:
            self._tf.add_override(
                "lifecycle", {"postcondition": [c.to_tf() for c in postconditions]}
            )

    def attr(self, name: str) -> str:
        return str(self._tf.get_string_attribute(name))

    @property
    def fqn(self) -> str:
        """`data.TYPE.NAME`, for expressions over its attributes."""
        return str(self._tf.fqn)


@dataclass(frozen=True)
class Condition(Args):
    """A lifecycle pre- or postcondition: Terraform stops with `error_message` when
    `condition` is false. In Terraform JSON the condition is a template, so it is written
    "${...}" (a bare string is a constant, which Terraform rejects); `self` is the object
    checked."""

    condition: str
    error_message: str
