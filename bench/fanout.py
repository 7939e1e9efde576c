"""Wall time of `gpuform exec` on 1, 8 and 32 hosts, against a sequential ssh loop and pssh.

All three reach the same real sshd daemons the same way: a bastion sshd, then one sshd per
node on a private bridge only the bastion shares (tests/ops/lab.py, network namespaces on this
machine). The ssh loop and Debian's parallel-ssh use plain OpenSSH with the config `gpuform
ssh-config` writes (ProxyJump through the bastion); every figure is the best of --repeat runs
of a fresh process, start-up included, with host keys already recorded; the last column is
the fan-out alone, in this process (a fresh bastion connection, no start-up). Needs root.

    .venv/bin/python bench/fanout.py [--repeat N] [--command CMD]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from infra.ops.fanout import run_all  # noqa: E402
from infra.ops.hostkeys import KnownHosts  # noqa: E402
from infra.ops.keys import Credentials  # noqa: E402
from infra.ops.ssh import SshTransport  # noqa: E402
from tests.ops import lab as labs  # noqa: E402

GPUFORM = Path(sys.executable).parent / "gpuform"
SIZES = (1, 8, 32)


def best_of(run: Callable[[], None], repeat: int) -> float:
    """The fastest of `repeat` runs, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


class Runners:
    """The three ways to run `command` on the first n lab nodes."""

    def __init__(self, lab: labs.Lab, home: Path, command: str) -> None:
        self.lab, self.home, self.command = lab, home, command
        self.inventory = lab.inventory_file()
        self.conf = home / "conf" / f"{labs.STACK}.conf"
        self.env = lab.client_env(home)
        self.connector = lab.connector()

    def _run(self, argv: list[str]) -> None:
        proc = subprocess.run(
            self.lab.in_client(argv), env=self.env, capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise SystemExit(f"{argv[0]} failed ({proc.returncode}): {proc.stderr[-800:]}")

    def setup(self) -> None:
        """Record every host key and write the ssh config the other two use."""
        self.gpuform(len(self.lab.addresses))
        access = ["--inventory", str(self.inventory), "--identity", str(self.lab.key)]
        self._run([str(GPUFORM), "ssh-config", labs.STACK, "--dir", str(self.conf.parent), *access])

    def gpuform(self, n: int) -> None:
        self._run([str(GPUFORM), "exec", labs.STACK, "--nodes", f"0-{n - 1}",
                   "--inventory", str(self.inventory), "--identity", str(self.lab.key),
                   "--", self.command])  # fmt: skip

    def in_process(self, n: int) -> None:
        """The fan-out alone: a fresh transport (bastion included), no process start-up."""
        inv = self.lab.inventory()
        hosts = KnownHosts(self.home / ".gpuform" / labs.STACK / "known_hosts")
        t = SshTransport(
            inv, Credentials(self.lab.key, use_agent=False), hosts, connector=self.connector
        )
        try:
            results = run_all(t, inv.nodes[:n], self.command, timeout_s=60)
        finally:
            t.close()
        if not all(r.result.ok for r in results):
            raise SystemExit(f"in-process fan-out failed: {results}")

    def ssh_loop(self, n: int) -> None:
        hosts = " ".join(f"{labs.STACK}-node-{i}" for i in range(n))
        loop = f'for h in {hosts}; do ssh -F "$0" -o BatchMode=yes "$h" "$1" || exit 1; done'
        self._run(["bash", "-c", loop, str(self.conf), self.command])

    def pssh(self, n: int) -> None:
        hosts = [f"{labs.STACK}-node-{i}" for i in range(n)]
        self._run(["parallel-ssh", "-p", "64", "-t", "60", "-x", f"-F {self.conf} -o BatchMode=yes",
                   *[a for h in hosts for a in ("-H", h)], self.command])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--command", default="true")
    args = parser.parse_args()
    if labs.CANNOT:
        raise SystemExit(f"bench/fanout.py: {labs.CANNOT}")
    if shutil.which("parallel-ssh") is None:
        raise SystemExit("bench/fanout.py: parallel-ssh missing (apt-get install pssh)")
    work = Path(tempfile.mkdtemp(prefix="gpuform-fanout-"))
    try:
        with labs.lab(work / "lab", nodes=max(SIZES)) as lab:
            runners = Runners(lab, work / "home", args.command)
            runners.setup()
            report(runners, args.repeat)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(r: Runners, repeat: int) -> None:
    """Measure and print seconds and ratios, one row per host count."""
    print(f"{os.cpu_count()} CPUs; best of {repeat}; command {r.command!r}; seconds:")
    print(f"{'hosts':>5} {'gpuform':>8} {'pssh':>7} {'ssh loop':>9} {'pssh/gpuform':>13} "
          f"{'loop/gpuform':>13} {'gpuform/1 host':>15} {'in-process':>11}")  # fmt: skip
    one = 0.0
    for n in SIZES:
        ours = best_of(partial(r.gpuform, n), repeat)
        pssh = best_of(partial(r.pssh, n), repeat)
        # 32 sequential connections take long enough that one run is a fair figure.
        loop = best_of(partial(r.ssh_loop, n), 1 if n > 8 else repeat)
        inner = best_of(partial(r.in_process, n), repeat)
        one = one or ours
        print(f"{n:>5} {ours:>8.2f} {pssh:>7.2f} {loop:>9.2f} {pssh / ours:>13.2f} "
              f"{loop / ours:>13.2f} {ours / one:>15.2f} {inner:>11.2f}")  # fmt: skip
    print("in-process: the same fan-out inside one Python process (no start-up, imports done)")


if __name__ == "__main__":
    main()
