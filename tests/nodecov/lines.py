"""Which lines of a bash script xtrace can report, by reading the script.

bash's xtrace reports a simple command at the line where it ends (checked with bash 5.2: a
command substitution or array spread over lines is reported at its last line). So a line
counts when a command can end on it. Not counted: blank lines, comments, lines of keywords and
braces alone (`fi`, `done`, `;;`, `} >>"$log"`), heredoc bodies and terminators, and a
function's opening line, case patterns without a command, and the rest of a command continued
with a backslash outside any parenthesis (bash reports it at its first line; inside a
command substitution, at its last). A line that continues on the next one (a
trailing `\\`, `|`, `&&`, an open quote or parenthesis) counts only if some trace reported it:
its command may end on a later line, which then counts instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

_KEYWORDS = {"then", "else", "fi", "do", "done", "esac", ";;", "{", "}", "(", ")", "in"}
_HEREDOC = re.compile(r"(?<!<)<<(?!<)(-?)\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\2")
_FUNC_OPEN = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*\(\)\s*\{$")
_PATTERN_ONLY = re.compile(r"^[^\s()]+\)(\s*;;)?$")
_STARTS_COMMAND = ("||", "&&", "|", ";")


class Kind(Enum):
    SKIP = "skip"
    COMMAND = "command"
    CONTINUES = "continues"
    """A command may or may not end here: counted only when a trace saw it."""


@dataclass
class _State:
    depth: int = 0
    quote: str = ""


def _scan(line: str, st: _State) -> None:
    """Track open quotes and parentheses across `line` (comments outside quotes end it)."""
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if st.quote == "'":
            if c == "'":
                st.quote = ""
        elif st.quote == '"':
            if c == "\\":
                i += 1
            elif c == '"':
                st.quote = ""
            elif c == "$" and line.startswith("$(", i):
                st.depth += 1
                i += 1
        else:
            if c == "\\":
                i += 1
            elif c in "'\"":
                st.quote = c
            elif c == "#" and (i == 0 or line[i - 1] in " \t;(") and not line.startswith("#}", i):
                return
            elif c == "(":
                st.depth += 1
            elif c == ")" and st.depth > 0:
                st.depth -= 1
        i += 1


def classify(lines: tuple[str, ...]) -> list[Kind]:
    """Each line's kind, in order."""
    kinds: list[Kind] = []
    st = _State()
    heredoc: tuple[str, bool] | None = None
    continued = False
    for line in lines:
        # The rest of a simple command continued with a backslash: bash reports the command at
        # its first line, so this one never shows in a trace (checked with bash 5.2). A line that
        # starts a command of its own (`|| fail ...`) does.
        joined, continued = continued, line.rstrip().endswith("\\") and heredoc is None
        bare = st.depth == 0 and not st.quote  # not inside $( ), ( ) or quotes
        if joined and bare and heredoc is None and not line.strip().startswith(_STARTS_COMMAND):
            _scan(line, st)
            kinds.append(Kind.SKIP)
            continue
        if heredoc is not None:
            word, dash = heredoc
            if (line.lstrip("\t") if dash else line) == word:
                heredoc = None
            kinds.append(Kind.SKIP)
            continue
        text = line.strip()
        inside = st.depth > 0 or st.quote != ""
        _scan(line, st)
        m = _HEREDOC.search(line)
        if m:
            heredoc = (m.group(3), m.group(1) == "-")
        if not text or (text.startswith("#") and not inside):
            kinds.append(Kind.CONTINUES if inside else Kind.SKIP)
            continue
        if text.startswith("#!"):
            kinds.append(Kind.SKIP)
            continue
        words = text.split()
        if not inside and (
            all(w in _KEYWORDS for w in words)
            or _FUNC_OPEN.match(text)
            or _PATTERN_ONLY.match(text)
            or (re.match(r"^\}\s*[<>0-9&|]", text) and "||" not in text and "&&" not in text)
        ):
            kinds.append(Kind.SKIP)
            continue
        if st.depth > 0 or st.quote or text.endswith(("\\", "|", "&&", "||")):
            kinds.append(Kind.CONTINUES)
            continue
        kinds.append(Kind.COMMAND)
    return kinds
