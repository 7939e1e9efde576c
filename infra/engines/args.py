"""Command-line arguments as data, and the one place they become shell words.

An argument is either a literal known at synth time, or a value the node learns at boot from
/etc/gpuform/node.env (e.g. the head node's IP). Templates render both with the `sh` filter, so
no shell text is assembled in Python.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class NodeVar:
    """An argument expanded on the node from an environment variable, plus a literal suffix."""

    name: str
    suffix: str = ""

    def __post_init__(self) -> None:
        if not self.name.isidentifier() or not self.name.isupper():
            raise ValueError(f"NodeVar name {self.name!r} must be an upper-case identifier")


Arg = str | NodeVar


def shell_word(arg: Arg | int | float) -> str:
    """One shell word: literals single-quoted when needed, NodeVars as a quoted expansion."""
    if isinstance(arg, NodeVar):
        return f'"${{{arg.name}}}"' + (shlex.quote(arg.suffix) if arg.suffix else "")
    return shlex.quote(str(arg))


def shell_words(args: Iterable[Arg]) -> str:
    """Several arguments as shell words separated by spaces."""
    return " ".join(shell_word(a) for a in args)
