"""`python -m tests.boot STACK [NODE]`: boot a stack's nodes and print what NODE did.

STACK is a deployment name or a file stem from stacks/; NODE is an index or `all` (default 0).
NODE boots beside its replica's head (a 16-node cluster need not boot sixteen containers to show
one); `all` boots every node. Only NODE is printed.
Exit status: 0 when every check passed for the printed nodes, 1 otherwise, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import sys
import time

from infra.errors import UserError
from infra.stacks import EXAMPLES_DIR, select
from infra.synth import settings_for

from . import report, rootfs
from .harness import boot_stack


def main(argv: list[str] | None = None) -> int:
    """Boot, print, and return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.boot", description=__doc__.splitlines()[0]
    )
    parser.add_argument("stack", help="deployment name or file stem in stacks/")
    parser.add_argument("node", nargs="?", default="0", help="node index, or `all`")
    args = parser.parse_args(argv)
    try:
        (stack,) = select([args.stack], EXAMPLES_DIR).values()
        topology = settings_for(stack).topology
        count = topology.nodes
    except UserError as err:
        print(err, file=sys.stderr)
        return 2
    if args.node != "all" and not (args.node.isdigit() and int(args.node) < count):
        print(f"NODE must be `all` or 0..{count - 1} for {stack.name}", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    built = rootfs.ensure_rootfs(announce=lambda line: print(line, file=sys.stderr, flush=True))
    if built.build_seconds is not None:
        print(f"built boot rootfs {built.path} in {built.build_seconds:.0f}s")
    only = None if args.node == "all" else {topology.head_of(int(args.node)), int(args.node)}
    reports = boot_stack(stack, only=only)
    shown = (
        reports if args.node == "all" else [r for r in reports if r.plan.index == int(args.node)]
    )
    ok = True
    for r in shown:
        print(report.render(r))
        ok = ok and not any(problems for _, problems in report.verdicts(r))
    print(
        f"booted {len(reports)} node(s) of {stack.name} in {time.monotonic() - t0:.1f}s: "
        f"{'all checks passed' if ok else 'some checks FAILED'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
