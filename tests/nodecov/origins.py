"""Which template line each line of a rendered node script came from.

A second Jinja environment, set up like gpuform's, loads every template with a marker at the
end of each line that ends in output; rendering with the same variables gives the same text
with markers, so each output line's last marker names the template line whose newline ended
it. Lines a multi-line value expands to (a heredoc's data) carry none and are not counted.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, Template

from infra.render.jinja import environment

_MARK = "@@gfcov:{name}:{line}@@"
_MARK_RE = re.compile(r"@@gfcov:([^:@]+):(\d+)@@")
_OPEN = ("{{", "{%", "{##")
_CLOSE = {"{{": "}}", "{%": "%}", "{##": "##}"}


def _mark(source: str, name: str) -> str:
    out, inside = [], None
    for n, line in enumerate(source.split("\n"), start=1):
        i = 0
        while True:
            if inside is None:
                hits = [(line.find(o, i), o) for o in _OPEN if line.find(o, i) >= 0]
                if not hits:
                    break
                pos, inside = min(hits, key=lambda h: (h[0], -len(h[1])))
                i = pos + len(inside)
            else:
                end = line.find(_CLOSE[inside], i)
                if end < 0:
                    break
                i, inside = end + len(_CLOSE[inside]), None
        tail = line.rstrip()
        # A newline right after a block tag or comment is trimmed (trim_blocks): a marker there
        # would keep it. Inside an open tag, a marker would change the tag.
        if inside is None and not tail.endswith(("%}", "##}")) and n < source.count("\n") + 1:
            line += _MARK.format(name=name, line=n)
        out.append(line)
    return "\n".join(out)


class _MarkingLoader(FileSystemLoader):
    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        return _mark(source, template), filename, uptodate


@cache
def _marking_environment() -> Environment:
    base = environment()
    assert isinstance(base.loader, FileSystemLoader)
    env = base.overlay(loader=_MarkingLoader(base.loader.searchpath))
    return env


@dataclass(frozen=True)
class Render:
    """One rendered script: its template, lines, and each line's (template, line) origin."""

    template: str
    lines: tuple[str, ...]
    origins: tuple[tuple[str, int] | None, ...]
    os: str
    """The host's package manager it was rendered for ("" when the template reads no host)."""


def origins_of(template: str, text: str, variables: dict[str, Any]) -> Render | None:
    """`text`, rendered from `template` with `variables`, line by line with its origins; None
    when the marked render does not give the same text (it then cannot be attributed)."""
    marked = _marking_environment().get_template(template).render(variables)
    lines, origins = [], []
    for line in marked.split("\n"):
        found = _MARK_RE.findall(line)
        lines.append(_MARK_RE.sub("", line))
        origins.append((found[-1][0], int(found[-1][1])) if found else None)
    if "\n".join(lines) != text:
        return None
    host = variables.get("host")
    return Render(template, tuple(lines), tuple(origins), str(getattr(host, "package_manager", "")))


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def save(dest: Path, r: Render, text: str) -> None:
    """Keep `r` under the sha256 of `text`, and of `text` as cloud-init's write_files leaves it
    (a YAML literal block ends in exactly one newline): the digest a node's copy has."""
    for key in {digest(text), digest(text.rstrip("\n") + "\n")}:
        path = dest / "renders" / f"{key}.json"
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"template": r.template, "lines": r.lines,
                                   "origins": r.origins, "os": r.os}))  # fmt: skip
        tmp.replace(path)


def load(path: Path) -> Render:
    raw = json.loads(path.read_text())
    return Render(
        raw["template"],
        tuple(raw["lines"]),
        tuple((o[0], o[1]) if o else None for o in raw["origins"]),
        raw["os"],
    )


def is_script(name: str | None) -> bool:
    return bool(name) and str(name).startswith("scripts/") and str(name).endswith(".sh.j2")


def record_renders(dest: Path, sink: Callable[[Render, str], None] | None = None) -> None:
    """From now on, save every script render's origins under `dest` (and hand it to `sink`)."""
    if getattr(Template.render, "_gfcov", False):
        return
    plain = Template.render

    def render(self: Template, *args: Any, **kwargs: Any) -> str:
        text = plain(self, *args, **kwargs)
        if is_script(self.name) and self.environment is environment():
            variables = dict(*args, **kwargs)
            r = origins_of(str(self.name), text, variables)
            if r is not None:
                save(dest, r, text)
                if sink is not None:
                    sink(r, text)
        return text

    render._gfcov = True  # type: ignore[attr-defined]
    Template.render = render  # type: ignore[method-assign]
