"""Terraform values on the wire (msgpack DynamicValue) and walks over them by schema.

cty's msgpack encoding: null is nil, an unknown value is extension 0 (extension 12 when it
carries refinements, cty >= 1.13), objects are maps with every attribute present, numbers are
ints or floats. An object-typed value returned to Terraform must carry all its attributes, so
everything leaving the stand-in goes through `conform_block`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

import msgpack

from .schema import Attribute, Block


class _Unknown:
    """A value Terraform will only know after apply."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN: Final = _Unknown()
_UNKNOWN_EXT: Final = (0, 12)


def _ext_hook(code: int, data: bytes) -> Any:
    if code in _UNKNOWN_EXT:
        return UNKNOWN
    return msgpack.ExtType(code, data)


def _default(obj: Any) -> Any:
    if obj is UNKNOWN:
        return msgpack.ExtType(0, b"")
    raise TypeError(f"cannot encode {obj!r}")


def decode(raw: bytes) -> Any:
    if not raw:
        return None
    return msgpack.unpackb(raw, ext_hook=_ext_hook, raw=False, strict_map_key=False)


def encode(value: Any) -> bytes:
    return bytes(msgpack.packb(value, default=_default, use_bin_type=True))


def has_unknown(value: Any) -> bool:
    if value is UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(has_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(has_unknown(v) for v in value)
    return False


def without_unknowns(value: Any) -> Any:
    """`value` with every unknown replaced by null (for what the service itself records)."""
    if value is UNKNOWN:
        return None
    if isinstance(value, dict):
        return {k: without_unknowns(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_unknowns(v) for v in value]
    return value


def conform(type_: Any, value: Any) -> Any:
    """`value` shaped to the cty type: every object attribute present, numbers as numbers."""
    if value is None or value is UNKNOWN:
        return value
    if isinstance(type_, str):
        if type_ == "number" and isinstance(value, str):
            return float(value) if "." in value else int(value)
        if type_ == "string" and not isinstance(value, str):
            return str(value).lower() if isinstance(value, bool) else str(value)
        return value
    kind, inner = type_[0], type_[1]
    if kind == "object":
        return {name: conform(t, value.get(name)) for name, t in inner.items()}
    if kind == "map":
        return {k: conform(inner, v) for k, v in value.items()}
    return [conform(inner, v) for v in value]


def conform_block(block: Block, value: Mapping[str, Any] | None) -> dict[str, Any]:
    """A block's object value with every attribute and nested block present."""
    value = value or {}
    out: dict[str, Any] = {n: conform(a.type, value.get(n)) for n, a in block.attributes.items()}
    for name, nested in block.block_types.items():
        inner = value.get(name)
        if nested.nesting == "single":
            out[name] = None if inner is None else conform_block(nested.block, inner)
        else:
            out[name] = [conform_block(nested.block, item) for item in (inner or [])]
    return out


Visitor = Callable[[str, Attribute, Any, Any], Any]


def map_attributes(
    block: Block,
    value: dict[str, Any],
    other: Mapping[str, Any] | None,
    visit: Visitor,
    path: str = "",
) -> dict[str, Any]:
    """A copy of `value` with visit(dotted_path, attribute, value, other's value) for every
    attribute, nested blocks included (elements paired with `other`'s by index)."""
    out = dict(value)
    for name, attribute in block.attributes.items():
        theirs = other.get(name) if other else None
        out[name] = visit(f"{path}{name}", attribute, value.get(name), theirs)
    for name, nested in block.block_types.items():
        mine, theirs = value.get(name), other.get(name) if other else None
        if mine is None or mine is UNKNOWN:
            continue
        if nested.nesting == "single":
            out[name] = map_attributes(nested.block, mine, theirs, visit, f"{path}{name}.")
            continue
        theirs_list = theirs if isinstance(theirs, list) else []
        out[name] = [
            map_attributes(
                nested.block,
                item,
                theirs_list[i] if i < len(theirs_list) else None,
                visit,
                f"{path}{name}.",
            )
            for i, item in enumerate(mine)
        ]
    return out


Step = str | int


def changed_paths(
    block: Block, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
) -> list[tuple[str, tuple[Step, ...]]]:
    """(dotted path without indices, exact path) of every attribute whose value differs;
    an unknown new value counts as a change, as in terraform-plugin-sdk v2's diff."""
    found: list[tuple[str, tuple[Step, ...]]] = []

    def walk(
        b: Block, o: Mapping[str, Any], n: Mapping[str, Any], dotted: str, exact: tuple[Step, ...]
    ) -> None:
        for name in b.attributes:
            ov, nv = o.get(name), n.get(name)
            if nv is UNKNOWN or ov != nv:
                found.append((f"{dotted}{name}", (*exact, name)))
        for name, nested in b.block_types.items():
            ov, nv = o.get(name), n.get(name)
            if nested.nesting == "single":
                ov, nv = ([ov] if ov else []), ([nv] if nv else [])
            ol, nl = ov or [], nv or []
            if nl is UNKNOWN or len(ol) != len(nl):
                # A block's own path stands for its number of items (SDKv2 diffs "name.#").
                found.append((f"{dotted}{name}", (*exact, name)))
            if nl is UNKNOWN:
                continue
            for i in range(max(len(ol), len(nl))):
                oi = ol[i] if i < len(ol) else {}
                ni = nl[i] if i < len(nl) else {}
                walk(nested.block, oi, ni, f"{dotted}{name}.", (*exact, name, i))

    walk(block, old or {}, new or {}, "", ())
    return found


def get_path(values: Any, steps: tuple[Step, ...]) -> Any:
    for step in steps:
        if values is None or values is UNKNOWN:
            return None
        if isinstance(step, int):
            values = values[step] if isinstance(values, list) and step < len(values) else None
        else:
            values = values.get(step) if isinstance(values, dict) else None
    return values


def set_path(values: Any, steps: tuple[Step, ...], new: Any) -> None:
    holder = get_path(values, steps[:-1])
    if isinstance(holder, dict) and isinstance(steps[-1], str):
        holder[steps[-1]] = new
