"""NCCL (RCCL on AMD) settings per RDMA shape, loaded from nccl.json: data, not code."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal


@dataclass(frozen=True)
class CollectiveSettings:
    """What /etc/nccl.conf holds on one shape, and where the values come from."""

    shape: str
    library: Literal["nccl", "rccl"]
    env: tuple[tuple[str, str], ...]
    source: str

    @property
    def conf(self) -> str:
        """/etc/nccl.conf's text: KEY=VALUE lines, which NCCL and `docker --env-file` both read."""
        return "".join(f"{k}={v}\n" for k, v in self.env)


@cache
def _load() -> dict[str, CollectiveSettings]:
    raw = json.loads(resources.files(__package__).joinpath("nccl.json").read_text())
    return {
        name: CollectiveSettings(name, s["library"], tuple(s["env"].items()), s["source"])
        for name, s in raw["shapes"].items()
    }


def collective_settings(shape: str) -> CollectiveSettings | None:
    """The settings for `shape`; None for a shape without an RDMA network."""
    return _load().get(shape)
