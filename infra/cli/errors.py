"""Turning user errors into one line on stderr and exit code 2."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console

from ..errors import UserError, format_error

P = ParamSpec("P")
R = TypeVar("R")

stderr = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_BAD_INPUT = 2


def fail(message: str) -> typer.Exit:
    """Print `gpuform: message` on stderr; return the Exit(2) to raise."""
    stderr.print(format_error(UserError(message)), markup=False)
    return typer.Exit(EXIT_BAD_INPUT)


def user_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Commands raise UserError; the user sees one line, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except UserError as err:
            raise fail(str(err)) from None

    return wrapper
