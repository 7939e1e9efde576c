"""behaviour.json applied: what the real provider does to values beyond its schema.

- `diff_suppress`: a DiffSuppressFunc makes the plan keep the prior value (SDKv2 plans no
  change for a suppressed diff);
- `read_back` with `on`: `plan_apply_and_read` transforms run at plan time (a StateFunc),
  `apply_and_read` ones when apply stores the object and again on refresh, `read` ones on
  refresh only (the PAR's `bucket_listing_action` reads back "");
- `value_if_unset` fills an Optional+Computed argument the configuration left out; `value_from`
  copies a sibling attribute when it names one (free-text sources such as "service" are
  left to the fillers); `value_desc` entries are descriptions only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from .schema import Block, TypeSchema
from .values import UNKNOWN

Stage = str  # "plan", "apply" or "read"
_STAGES: Mapping[str, frozenset[Stage]] = {
    "read": frozenset({"read"}),
    "apply_and_read": frozenset({"apply", "read"}),
    "plan_apply_and_read": frozenset({"plan", "apply", "read"}),
}


def _rfc3339nano(value: str) -> str:
    """Go's time.RFC3339Nano of a parsed instant: trailing fractional zeros dropped, Z for UTC."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.utcoffset() is not None and parsed.utcoffset() == UTC.utcoffset(None):
        parsed = parsed.astimezone(UTC)
    text = parsed.strftime("%Y-%m-%dT%H:%M:%S")
    if parsed.microsecond:
        text += "." + f"{parsed.microsecond:06d}".rstrip("0")
    offset = parsed.strftime("%z")
    return text + ("Z" if offset in ("", "+0000") else f"{offset[:3]}:{offset[3:]}")


def _canonical_case(spec: str) -> Callable[[Any], Any]:
    options = [o.strip() for o in spec[spec.find("(") + 1 : spec.rfind(")")].split("|")]

    def canonical(value: Any) -> Any:
        return next((o for o in options if o.lower() == str(value).lower()), value)

    return canonical


def _transform(name: str) -> Callable[[Any], Any] | None:
    simple: Mapping[str, Callable[[Any], Any]] = {
        "md5_hex": lambda v: hashlib.md5(str(v).encode()).hexdigest(),
        "normalize_bool_string": lambda v: str(v).lower(),
        "rfc3339nano": lambda v: _rfc3339nano(str(v)),
        "lowercase_keys": lambda v: {str(k).lower(): x for k, x in dict(v).items()},
    }
    if name in simple:
        return simple[name]
    if name.startswith("canonical_case"):
        return _canonical_case(name)
    return None  # described in behaviour.json, not modelled: the value stays as sent


def _is_time_equal(old: str, new: str) -> bool:
    try:
        return datetime.fromisoformat(old.replace("Z", "+00:00")) == datetime.fromisoformat(
            new.replace("Z", "+00:00")
        )
    except ValueError:
        return False


def _is_json_equal(old: str, new: str) -> bool:
    try:
        return bool(json.loads(old) == json.loads(new))
    except ValueError:
        return False


def _is_int64_equal(old: str, new: str) -> bool:
    try:
        return int(old) == int(new)
    except ValueError:
        return False


SUPPRESSORS: Mapping[str, Callable[[str, str], bool]] = {
    "case_insensitive": lambda o, n: o.lower() == n.lower(),
    "int64_string": _is_int64_equal,
    "time_equal": _is_time_equal,
    "json_string": _is_json_equal,
}


def suppressed(t: TypeSchema, dotted: str, old: Any, new: Any) -> bool:
    kind = t.behaviour.diff_suppress.get(dotted)
    check = SUPPRESSORS.get(kind) if isinstance(kind, str) else None
    if check is None or not isinstance(old, str) or not isinstance(new, str):
        return False
    return check(old, new)


def _containers(
    values: dict[str, Any], block: Block, steps: list[str]
) -> list[tuple[dict[str, Any], Block]]:
    """The objects holding the attribute at `steps` (one per block item on the way)."""
    if len(steps) == 1:
        return [(values, block)]
    nested = block.block_types.get(steps[0])
    inner = values.get(steps[0])
    if nested is None or inner is None or inner is UNKNOWN:
        return []
    items = inner if isinstance(inner, list) else [inner]
    out: list[tuple[dict[str, Any], Block]] = []
    for item in items:
        if isinstance(item, dict):
            out.extend(_containers(item, nested.block, steps[1:]))
    return out


def apply(t: TypeSchema, values: dict[str, Any], stage: Stage) -> dict[str, Any]:
    """`values` (modified in place and returned) as the real provider holds them at `stage`."""
    for path, quirk in t.behaviour.read_back.items():
        if stage not in _STAGES.get(quirk.on, frozenset()):
            continue
        steps = path.split(".")
        name = steps[-1]
        for holder, block in _containers(values, t.block, steps):
            if name not in block.attributes:
                continue  # a whole block: the configuration decides blocks
            current = holder.get(name)
            if quirk.has_value:
                holder[name] = quirk.value
            elif quirk.has_value_if_unset:
                if current is UNKNOWN:
                    holder[name] = quirk.value_if_unset
            elif quirk.value_from and re.fullmatch(r"[a-z0-9_]+", quirk.value_from):
                if current in (None, UNKNOWN) and quirk.value_from in holder:
                    holder[name] = holder[quirk.value_from]
            elif quirk.transform == "md5_base64_of_content":
                content = holder.get("content")
                if isinstance(content, str) and re.fullmatch(r"[0-9a-f]{32}", content):
                    holder[name] = base64.b64encode(bytes.fromhex(content)).decode()
            elif quirk.transform and current not in (None, UNKNOWN):
                if quirk.on == "plan_apply_and_read" and stage != "plan":
                    continue  # a StateFunc runs on the configured value once; state holds it

                fn = _transform(quirk.transform)
                if fn is not None:
                    holder[name] = fn(current)
    return values


def replaces_map(t: TypeSchema, dotted: str, old: Any, new: Any) -> bool:
    """force_new_if with map_keys: a change in one of those keys of the map replaces."""
    rule = t.behaviour.force_new_if.get(dotted)
    if not isinstance(rule, Mapping) or "map_keys" not in rule:
        return False
    old_map, new_map = old if isinstance(old, dict) else {}, new if isinstance(new, dict) else {}
    if new is UNKNOWN:
        return True
    return any(old_map.get(k) != new_map.get(k) for k in rule["map_keys"])
