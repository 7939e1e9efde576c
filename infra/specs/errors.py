"""pydantic's validation errors as one line: the spec field, the value, and the fix."""

from __future__ import annotations

from pydantic import ValidationError


def _loc(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for p in loc:
        if isinstance(p, int):
            parts.append(f"[{p}]")
        else:
            parts.append(("." if parts else "") + p)
    return "".join(parts) or "(spec)"


def one_line(err: ValidationError) -> str:
    """The first problem in a pydantic ValidationError, as `Model.field = value: fix`.

    The prefix is the spec class the user wrote in the stack file (`NodeGroup.count`).
    """
    first = err.errors(include_url=False)[0]
    msg = str(first["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if not first["loc"]:
        # A cross-field check: its message names the fields and values itself.
        return f"{err.title}: {msg}"
    field = f"{err.title}.{_loc(tuple(first['loc']))}"
    if first["type"] == "missing":
        return f"{field}: required; set it in the stack"
    if first["type"] == "extra_forbidden":
        return f"{field}: unknown field; check the spelling against the spec"
    more = len(err.errors()) - 1
    tail = f" (and {more} more)" if more else ""
    return f"{field} = {first.get('input')!r}: {msg}{tail}"
