"""Node selectors: `all`, `head`/`heads`, `workers`, indexes and ranges (`0,2-4`), names."""

from __future__ import annotations

import re

from ..errors import UserError
from .inventory import Inventory, Node

#: An index or a range of them; ASCII digits only (`²` is a digit to str.isdigit, not to int).
_RANGE = re.compile(r"([0-9]+)(?:-([0-9]+))?")
SELECTOR_HELP = "all, heads, workers, indexes and ranges (0,2-4), or node names; comma-separated"


def select(inventory: Inventory, selector: str) -> tuple[Node, ...]:
    """The nodes `selector` names, in inventory order; UserError for a term that names none."""
    chosen: set[int] = set()
    for term in (t.strip() for t in selector.split(",")):
        if not term:
            continue
        chosen |= _term(inventory, term)
    if not chosen:
        raise UserError(f"--nodes = {selector!r}: selects no node; use {SELECTOR_HELP}")
    return tuple(n for n in inventory.nodes if n.index in chosen)


def one(inventory: Inventory, ref: str) -> Node:
    """The single node `ref` names (index, name or hostname)."""
    nodes = select(inventory, ref)
    if len(nodes) != 1:
        names = ", ".join(n.name for n in nodes)
        raise UserError(f"node = {ref!r}: names {len(nodes)} nodes ({names}); name exactly one")
    return nodes[0]


def _term(inventory: Inventory, term: str) -> set[int]:
    nodes = inventory.nodes
    if term == "all":
        return {n.index for n in nodes}
    if term in ("head", "heads"):
        return {n.index for n in nodes if n.role == "head"}
    if term == "workers":
        return {n.index for n in nodes if n.role == "worker"}
    indexes = {n.index for n in nodes}
    span = _RANGE.fullmatch(term)
    if span is not None:
        lo, hi = span.group(1), span.group(2) or span.group(1)
        # Bounds first: `0-99999999999` must not build a set of 10**11 indexes to compare.
        first, last = (int(x) if len(x) <= 12 else -1 for x in (lo, hi))
        if not 0 <= first <= last <= max(indexes) or not set(range(first, last + 1)) <= indexes:
            raise UserError(
                f"node {term!r}: stack {inventory.stack!r} has nodes 0 to {max(indexes)}"
            )
        return set(range(first, last + 1))
    found = {n.index for n in nodes if term in (n.name, n.hostname)}
    if not found:
        raise UserError(
            f"node {term!r}: no such node in stack {inventory.stack!r}; use {SELECTOR_HELP} "
            f"(names: {', '.join(n.name for n in nodes[:4])}{', ...' if len(nodes) > 4 else ''})"
        )
    return found
