"""Node selectors: `all`, `head`/`heads`, `workers`, indexes and ranges (`0,2-4`), names."""

from __future__ import annotations

import re

from ..errors import UserError
from .inventory import Inventory, Node

_RANGE = re.compile(r"^(\d+)-(\d+)$")
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
    if term.isdigit() or _RANGE.match(term):
        lo, _, hi = term.partition("-")
        wanted = set(range(int(lo), int(hi or lo) + 1))
        if not wanted or not wanted <= indexes:
            raise UserError(
                f"node {term!r}: stack {inventory.stack!r} has nodes 0 to {max(indexes)}"
            )
        return wanted
    found = {n.index for n in nodes if term in (n.name, n.hostname)}
    if not found:
        raise UserError(
            f"node {term!r}: no such node in stack {inventory.stack!r}; use {SELECTOR_HELP} "
            f"(names: {', '.join(n.name for n in nodes[:4])}{', ...' if len(nodes) > 4 else ''})"
        )
    return found
