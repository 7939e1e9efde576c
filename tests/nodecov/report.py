"""`python -m tests.nodecov.report DIR`: which lines of the node scripts ran.

The lines counted are those of every `templates/scripts/*.sh.j2` as rendered for each example
stack (each template line once, whatever stack or node rendered it), plus the shipped weights
pull. A template line ran when any trace (boot harness or script test, any render of it)
reported an output line that came from it (origins.py). Prints
`node scripts: N% of lines ran (M of K)`, each OS branch's share, then the lines that never
ran, file by file.
"""

from __future__ import annotations

import ast
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from infra.node_plan import plan_nodes
from infra.render.paths import templates_dir
from infra.render.weights_part import FETCHER, _Unannotated, shipped_fetcher
from infra.sizing.settings import resolve
from infra.stacks import load_examples

from . import origins
from .lines import Kind, classify

Origin = tuple[str, int]
_TRACE = re.compile(r"^\++@gfcov@(.*?)@(\d+)@ ")
_ID = re.compile(r"[0-9a-f]{64}")
PULL = "weights-fetch.py (infra/weights/fetch.py)"


@dataclass
class Universe:
    """The lines that count, from the example stacks' renders."""

    lines: set[Origin] = field(default_factory=set)
    maybe: set[Origin] = field(default_factory=set)
    """Lines a command may or may not end on: counted once a trace reports one."""
    os: dict[Origin, set[str]] = field(default_factory=lambda: defaultdict(set))


def _render_examples(dest: Path) -> Universe:
    """Render every node of every example stack, and collect the lines that count."""
    u = Universe()
    seen: set[str] = set()

    def take(r: origins.Render, text: str) -> None:
        key = origins.digest(text)
        if key in seen:
            return
        seen.add(key)
        for origin, kind in zip(r.origins, classify(r.lines), strict=True):
            if origin is None or kind is Kind.SKIP:
                continue
            (u.lines if kind is Kind.COMMAND else u.maybe).add(origin)
            if r.os:
                u.os[origin].add(r.os)

    origins.record_renders(dest, take)
    for stack in load_examples().values():
        for plan in plan_nodes(stack, resolve(stack)):
            _ = plan.files
    return u


def bash_hits(dest: Path) -> tuple[set[Origin], list[str]]:
    """Template lines some trace reported; scripts traced without a recorded render."""
    hits: set[Origin] = set()
    unknown: set[str] = set()
    renders: dict[str, origins.Render | None] = {}
    for trace in sorted((dest / "bash" / "trace").glob("*")):
        m = _ID.search(trace.name)
        if m is None:
            continue
        script_id = m.group(0)
        if script_id not in renders:
            path = dest / "renders" / f"{script_id}.json"
            renders[script_id] = origins.load(path) if path.exists() else None
        r = renders[script_id]
        text = trace.read_text(errors="replace").splitlines()
        if not text or not text[0].startswith("#gfcov "):
            continue
        script = text[0].removeprefix("#gfcov ")
        if r is None:
            unknown.add(script)
            continue
        for line in text[1:]:
            t = _TRACE.match(line)
            if t is None or t.group(1) != script:
                continue
            n = int(t.group(2))
            if 0 < n <= len(r.origins) and (o := r.origins[n - 1]) is not None:
                hits.add(o)
    return hits, sorted(unknown)


def _shipped_lines_of_source() -> dict[int, int]:
    """infra/weights/fetch.py's statement lines -> the shipped copy's (same statements, with
    docstrings and annotations gone: weights_part.shipped_fetcher)."""
    tree = ast.parse(FETCHER.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            body = node.body
            first = body[0] if body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                node.body = body[1:] or [ast.Pass()]
    tree = _Unannotated().visit(tree)
    before = [getattr(n, "lineno", 0) for n in ast.walk(tree) if isinstance(n, ast.stmt)]
    after = [n.lineno for n in ast.walk(ast.parse(shipped_fetcher())) if isinstance(n, ast.stmt)]
    if len(before) != len(after):
        return {}
    return dict(zip(before, after, strict=True))


def python_lines(dest: Path) -> tuple[set[int], set[int]] | None:
    """(statement lines of the shipped pull, those that ran), from coverage.py's data."""
    data_dir = dest / "py"
    if not any(data_dir.glob(".coverage*")):
        return None
    from coverage import Coverage
    from coverage.parser import PythonParser

    cov = Coverage(data_file=str(data_dir / ".coverage"))
    cov.combine(data_paths=[str(data_dir)], keep=True)
    data = cov.get_data()
    shipped = shipped_fetcher()
    parser = PythonParser(text=shipped)
    parser.parse_source()
    statements = set(parser.statements)
    mapping = _shipped_lines_of_source()
    ran: set[int] = set()
    for f in data.measured_files():
        lines = set(data.lines(f) or ())
        path = Path(f)
        if path.resolve() == FETCHER.resolve():
            ran |= {mapping[n] for n in lines if n in mapping}
        elif path.name == "weights-fetch.py" and (
            # The tests write the shipped copy into a temporary folder, which pytest may have
            # removed by now; one that is still there must be the shipped text.
            not path.exists() or path.read_text().rstrip("\n") == shipped.rstrip("\n")
        ):
            ran |= lines
    return statements, ran & statements


def _ranges(ns: list[int]) -> str:
    out, start, prev = [], ns[0], ns[0]
    for n in [*ns[1:], -1]:
        if n == prev + 1:
            prev = n
            continue
        out.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = n
    return ", ".join(out)


def report(dest: Path) -> tuple[str, float]:
    u = _render_examples(dest)
    hits, unknown = bash_hits(dest)
    counted = u.lines | (u.maybe & hits)
    ran = counted & hits
    missed: dict[str, list[int]] = defaultdict(list)
    for name, n in sorted(counted - ran):
        missed[f"templates/{name}"].append(n)
    total, done = len(counted), len(ran)
    py = python_lines(dest)
    if py is not None:
        statements, py_ran = py
        total, done = total + len(statements), done + len(py_ran)
        if statements - py_ran:
            missed[PULL] = sorted(statements - py_ran)
    pct = 100.0 * done / total if total else 0.0
    out = [f"node scripts: {pct:.1f}% of lines ran ({done} of {total})"]
    for os_name in ("dnf", "apt"):
        only = {o for o in counted if u.os.get(o) == {os_name}}
        out.append(f"  {os_name}-only lines: {len(only & ran)} of {len(only)} ran")
    if py is None:
        out.append(f"  {PULL}: no coverage.py data (run under `make node-coverage`)")
    else:
        out.append(f"  {PULL}: {len(py[1])} of {len(py[0])} statements ran")
    if unknown:
        # Stand-ins and tools the tests run are bash too; they are not node scripts.
        out.append(f"  {len(unknown)} other bash scripts traced (stand-ins, tools): not counted")
    if missed:
        out.append("never ran:")
    for name in sorted(missed):
        ns = sorted(missed[name])
        out.append(f"  {name}: {_ranges(ns)}")
        if name.startswith("templates/"):
            src = (templates_dir() / name.removeprefix("templates/")).read_text().splitlines()
            for n in ns:
                out.append(f"    {n:4d}  {src[n - 1].strip()[:96]}")
    return "\n".join(out), pct


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.nodecov.report DIR", file=sys.stderr)
        return 2
    text, _ = report(Path(argv[0]).resolve())
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
