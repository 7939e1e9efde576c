"""Node coverage: which lines of the node scripts ran, under the boot harness and script tests.

`make node-coverage` sets GPUFORM_NODE_COVERAGE to a folder; then
- every bash run under the harness or a script test sources `prelude.sh` through BASH_ENV and
  traces its own lines (PS4 carries file:line, BASH_XTRACEFD sends them to a file of its own);
- every render of a `scripts/*.sh.j2` template is recorded with the template line each output
  line came from (`origins.py`), so a traced line of any render, a test's with its temporary
  paths included, counts for the template line behind it;
- coverage.py measures the weights pull (`infra/weights/fetch.py`, or the shipped copy).
`python -m tests.nodecov.report` then counts, over the scripts as rendered for every example
stack, the lines that ran. Unset, none of this happens and nothing changes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

ENV = "GPUFORM_NODE_COVERAGE"
PRELUDE = Path(__file__).resolve().parent / "prelude.sh"


def folder() -> Path | None:
    """Where this run's coverage goes; None when coverage is off."""
    value = os.environ.get(ENV, "")
    return Path(value).resolve() if value else None


def bash_env(dest: Path | None = None, prelude: str = str(PRELUDE)) -> dict[str, str]:
    """The variables that make bash trace into `dest` (this run's folder by default); empty
    when coverage is off."""
    dest = dest or folder()
    if dest is None:
        return {}
    return {"BASH_ENV": prelude, "GPUFORM_NODECOV_DIR": str(dest / "bash")}


def script_env(env: Mapping[str, str]) -> dict[str, str]:
    """`env` for a script a test runs, plus the tracing variables when coverage is on."""
    return {**env, **bash_env()}
