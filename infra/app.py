"""The cdktf app (cdktf.json's "app"): synthesizes every stack in ./stacks.

`cdktf synth` and `cdktf deploy <stack>` run this; it honours CDKTF_OUTDIR as cdktf sets it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .errors import UserError, format_error
from .stacks import load_dir
from .synth import synth


def main() -> int:
    outdir = Path(os.environ.get("CDKTF_OUTDIR", "cdktf.out"))
    try:
        synth(load_dir(Path("stacks")), outdir, [Path("stacks")])
    except UserError as err:
        print(format_error(err), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
