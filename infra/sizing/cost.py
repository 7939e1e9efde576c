"""What a plan costs per hour, from the shape catalog's list prices."""

from __future__ import annotations

from ..catalog.shapes import Shape


def usd_per_hour(shape: Shape, nodes: int) -> float:
    """On-demand list price of `nodes` nodes of `shape`; a node is rented whole."""
    return round(nodes * shape.usd_per_hour, 2)
