"""No import in infra/ runs back up a floor, and docs/architecture.md lists the floors truly."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
INFRA = REPO / "infra"
ARCHITECTURE = REPO / "docs" / "architecture.md"


def floors() -> dict[str, int]:
    """Each top-level part of infra/ -> its floor, 0 lowest, from the doc's ```floors block."""
    block = re.search(r"```floors\n(.*?)```", ARCHITECTURE.read_text(), re.S)
    assert block, "docs/architecture.md has no ```floors block"
    return {
        part: level
        for level, line in enumerate(block.group(1).strip().splitlines())
        for part in line.split()
    }


def _part(path: Path) -> str:
    rel = path.relative_to(INFRA).with_suffix("")
    return rel.parts[0]


def _targets(path: Path) -> set[str]:
    """The top-level parts of infra/ that `path` imports (its own excluded)."""
    package = list(path.relative_to(INFRA).parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                names = (node.module or "").split(".")
                if names[0] != "infra" or len(names) < 2:
                    continue
                found.add(names[1])
                continue
            base = package[: len(package) - (node.level - 1)]
            full = base + [n for n in (node.module or "").split(".") if n]
            found.add(full[0] if full else node.names[0].name)
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("infra.")}
    return found - {_part(path)}


def test_no_import_runs_back_up_a_floor() -> None:
    level = floors()
    upward = []
    for path in sorted(INFRA.rglob("*.py")):
        part = _part(path)
        if part in {"__init__", "__main__"}:
            continue
        assert part in level, f"{path.relative_to(REPO)}: {part} is on no floor in the doc"
        upward += [
            f"{path.relative_to(REPO)} imports {target}"
            for target in sorted(_targets(path))
            if level.get(target, -1) > level[part]
        ]
    assert not upward, "imports that run back up a floor:\n" + "\n".join(upward)


def test_every_floor_in_the_doc_exists() -> None:
    parts = {_part(p) for p in INFRA.rglob("*.py")}
    assert set(floors()) <= parts, set(floors()) - parts


def test_the_walker_sees_relative_and_absolute_imports() -> None:
    assert _targets(INFRA / "cli" / "plan.py") >= {"sizing", "catalog", "engines", "errors"}
    # A sibling module (engines/args.py) is the same part, not an import of another.
    assert "engines" not in _targets(INFRA / "engines" / "base.py")
