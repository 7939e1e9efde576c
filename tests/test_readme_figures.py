"""The README's planner figures are the planner's: a change to sizing shows up in review."""

from __future__ import annotations

import re

import pytest

from infra.sizing.catalog import lookup
from infra.sizing.planner import Request, plan

from .conftest import REPO

# | deepseek-ai/DeepSeek-R1-Distill-Qwen-7B | bf16 | 1 x VM.GPU.A10.1 (TP 1) | 2.00 | 71,305 |
_ROW = re.compile(
    r"^\| (?P<model>[\w.-]+/[\w.-]+) \| (?P<precision>\w+) \| (?P<nodes>\d+) x (?P<shape>[\w.-]+) "
    r"\([^)]*\) \| (?P<usd>[\d.]+) \| (?P<context>[\d,]+) \|$"
)


def _rows() -> list[dict[str, str]]:
    text = (REPO / "README.md").read_text()
    return [m.groupdict() for line in text.splitlines() if (m := _ROW.match(line))]


def test_the_readme_lists_the_catalog_models() -> None:
    assert len(_rows()) >= 10


@pytest.mark.parametrize("row", _rows(), ids=lambda r: r["model"])
def test_each_cheapest_fit_in_the_readme_is_what_the_planner_chooses(row: dict[str, str]) -> None:
    chosen = plan(Request(lookup(row["model"]))).chosen
    assert chosen is not None
    assert (chosen.shape, chosen.nodes, chosen.precision) == (
        row["shape"],
        int(row["nodes"]),
        row["precision"],
    )
    assert chosen.max_context == int(row["context"].replace(",", "")), row["model"]
    assert f"{chosen.usd_per_hour:.2f}" == row["usd"]
