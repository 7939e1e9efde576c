"""Ctrl-C ends a day-2 command within seconds, whatever the SSH library is stuck in.

In the field, `logs --follow` once kept running ten minutes after SIGINT. A KeyboardInterrupt
raised on the thread that runs paramiko can leave one of its locks taken; closing the
connection then waits on that lock for ever. The stand-in below has exactly that close (it
never returns) and a stream that blocks after its first line, as a quiet journal does.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO
from tests.ops import sample

_STUCK = """
import sys, threading
import infra.ops.ssh

class Stuck:
    def __init__(self, *args, **kwargs):
        pass

    def connect_bastion(self, timeout_s):
        pass

    def stream(self, node, command):
        yield "first line"
        threading.Event().wait()  # a journal with nothing more to say

    def run(self, node, command, *, timeout_s, on_line=None):
        # One write per line: exec runs this on a thread per node, and print() writes the
        # text and its newline apart, so two nodes' lines could interleave.
        sys.stderr.write("stuck: running\\n")
        sys.stderr.flush()
        threading.Event().wait()  # a command that runs on

    def close(self):
        threading.Event().wait()  # a lock a KeyboardInterrupt left taken

infra.ops.ssh.SshTransport = Stuck
from infra.cli.main import main
sys.argv = ["gpuform", *sys.argv[1:]]
main()
"""


def _interrupted(tmp_path: Path, *args: str, ready: str) -> tuple[int | None, float, str]:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(sample.outputs()))
    env = {**os.environ, "PYTHONPATH": str(REPO), "HOME": str(tmp_path), "NO_COLOR": "1"}
    split = args.index("--") if "--" in args else len(args)
    argv = [*args[:split], "--inventory", str(outputs), *args[split:]]
    proc = subprocess.Popen(
        [sys.executable, "-c", _STUCK, *argv],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
        start_new_session=True,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    seen = (proc.stdout if ready == "stdout" else proc.stderr).readline()
    started = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=15)
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        code = None
    return code, time.monotonic() - started, seen


def test_logs_follow_ends_on_one_ctrl_c_even_when_closing_the_connection_hangs(
    tmp_path: Path,
) -> None:
    code, seconds, seen = _interrupted(tmp_path, "logs", "r1-h100", "0", "--follow",
                                       ready="stdout")  # fmt: skip
    assert seen == "first line\n"
    assert code == 130, f"exit {code} after {seconds:.0f}s"
    assert seconds < 10


def test_exec_ends_on_one_ctrl_c_even_when_closing_the_connection_hangs(tmp_path: Path) -> None:
    code, seconds, seen = _interrupted(tmp_path, "exec", "r1-h100", "--", "sleep 777",
                                       ready="stderr")  # fmt: skip
    assert seen.startswith("stuck: running"), seen
    assert code == 130, f"exit {code} after {seconds:.0f}s"
    assert seconds < 10
