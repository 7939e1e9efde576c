"""Stack names on the day-2 command line: the specs' rule, since they name files and folders.

A stack's name becomes `~/.gpuform/<stack>/` and `~/.ssh/gpuform/<stack>.conf`; `../../x` or
`a/b` there would write outside those folders. The rule is `Deployment.name`'s (infra/specs/
deployment.py; a test holds the two equal), matched whole: no trailing newline slips through.
"""

from __future__ import annotations

import re

from ..errors import UserError

STACK_NAME = re.compile(r"[a-z][a-z0-9-]{1,38}[a-z0-9]")
RULE = "3-40 lowercase letters, digits and dashes, starting with a letter"


def stack_name(name: str) -> str:
    """`name` if a deployment could carry it; UserError otherwise."""
    if STACK_NAME.fullmatch(name) is None:
        raise UserError.at("stack", name, f"a stack name is {RULE} (its deployment.name)")
    return name
