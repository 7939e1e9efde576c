"""A stack file that fails is one line naming the file, its line and the exception (issue 17)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import run_cli

HEADER = "import os, sys\nfrom pathlib import Path\nfrom infra.specs import Deployment\n"


@pytest.mark.parametrize(
    ("body", "line"),
    [
        # A missing import.
        ("stack = StackSpec()\n", "bad.py:4: NameError: name 'StackSpec' is not defined"),
        # An environment variable the user has not set.
        ('region = os.environ["GPUFORM_TEST_UNSET"]\n', "bad.py:4: KeyError: 'GPUFORM_TEST_UNSET'"),
        # A key file that is not there, read a few lines down in a helper.
        (
            "def key():\n    return Path('/nonexistent/id.pub').read_text()\n\nKEY = key()\n",
            "bad.py:5: FileNotFoundError: [Errno 2] No such file or directory: "
            "'/nonexistent/id.pub'",
        ),
        # A message on several lines still makes one.
        ('raise RuntimeError("first\\nsecond")\n', "bad.py:4: RuntimeError: first second"),
        # sys.exit() must not pass for success (exit 0 with nothing written).
        ("sys.exit()\n", "bad.py:4: the stack file called exit(None)"),
        ("sys.exit(0)\n", "bad.py:4: the stack file called exit(0)"),
        ('sys.exit("bye")\n', "bad.py:4: the stack file called exit('bye')"),
    ],
)
def test_a_stack_file_that_raises_or_exits_is_one_line(
    tmp_path: Path, body: str, line: str
) -> None:
    (tmp_path / "bad.py").write_text(HEADER + body)
    result = run_cli(["synth", "bad.py", "--out", "out"], cwd=tmp_path)
    assert result.code == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"gpuform: {line}"), result.stderr
    assert not (tmp_path / "out").exists()


def test_every_command_that_loads_stacks_says_the_same(tmp_path: Path) -> None:
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "bad.py").write_text(HEADER + 'region = os.environ["GPUFORM_NO"]\n')
    for args in (["stacks"], ["synth"], ["nodes", "bad"], ["render", "bad"]):
        result = run_cli(args, cwd=tmp_path)
        assert result.code == 2, (args, result.stderr)
        assert (
            result.stderr
            == "gpuform: stacks/bad.py:4: KeyError: 'GPUFORM_NO'; fix the stack file\n"
        )
