"""Peer for bench/synth.py: re-synthesize a cdk.tf.json through bare cdktf, no gpuform code.

Reads a synthesized stack and emits the same resources, data sources and outputs as generic
cdktf constructs: the least cdktf work that yields the same Terraform, and so the floor that
gpuform's own synth time is compared with.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from typing import Any

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from cdktf import App, TerraformDataSource, TerraformOutput, TerraformResource, TerraformStack


def replay(doc: dict[str, Any], outdir: str) -> None:
    app = App(outdir=outdir, skip_validation=True)
    stack = TerraformStack(app, "peer")
    for kind, cls in (("resource", TerraformResource), ("data", TerraformDataSource)):
        for tf_type, items in doc.get(kind, {}).items():
            for name, args in items.items():
                res = cls(stack, f"{kind}_{name}", terraform_resource_type=tf_type)
                for key, value in args.items():
                    if key != "//":
                        res.add_override(key, value)
    for name, out in doc.get("output", {}).items():
        TerraformOutput(stack, name, value=out["value"])
    app.synth()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as out:
        for path in sys.argv[1:]:
            with open(path) as f:
                replay(json.load(f), out)
