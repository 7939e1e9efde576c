"""Shared fixtures: the example stacks, synthesized once per session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from infra.specs import AnyStack
from infra.stacks import load_examples
from infra.synth import synth
from tests import nodecov
from tests.nodecov import origins

REPO = Path(__file__).resolve().parent.parent
GPUFORM = Path(sys.executable).parent / "gpuform"

if (_NODECOV := nodecov.folder()) is not None:
    # `make node-coverage`: every node script rendered in this session is recorded with the
    # template line behind each of its lines (tests/nodecov/origins.py).
    origins.record_renders(_NODECOV)
    # Every bash a test starts with this process's environment traces itself; tests that build
    # an environment of their own add these through nodecov.script_env.
    os.environ.update(nodecov.bash_env(_NODECOV))


@dataclass(frozen=True)
class CliResult:
    code: int
    stdout: str
    stderr: str


def run_cli(args: Sequence[str], cwd: Path = REPO, timeout: float = 120) -> CliResult:
    """Run the installed `gpuform` console script as a user would."""
    proc = subprocess.run(
        [str(GPUFORM), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="session")
def examples() -> dict[str, AnyStack]:
    return load_examples()


@pytest.fixture(scope="session")
def synthesized(
    examples: dict[str, AnyStack], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    """Stack name -> parsed cdk.tf.json of every example stack."""
    out = tmp_path_factory.mktemp("synth") / "cdktf.out"
    result = synth(examples, out)
    return {name: json.loads(path.read_text()) for name, path in result.stacks.items()}
