"""Wall time of `gpuform synth`: all example stacks, and 1-, 16- and 128-node stacks.

Each figure is the best of several runs of the real command in a fresh process (imports, jsii's
Node start-up and all). The peer, run side by side, is bench/cdktf_floor.py: bare cdktf
re-synthesizing the very same Terraform JSON without gpuform, so the ratio is gpuform's own cost
over the floor cdktf imposes.

    .venv/bin/python bench/synth.py [--repeat N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
STACK_TEMPLATE = """
from infra.specs import Deployment, Engine, Model, NodeGroup, StackSpec
stack = StackSpec(
    deployment=Deployment(name="bench-{n}", region="us-ashburn-1",
        ssh_allowed_cidrs=["198.51.100.0/24"], api_allowed_cidrs=["198.51.100.0/24"]),
    nodes=NodeGroup(shape="BM.GPU.H200.8", count={n}),
    model=Model(id="deepseek-ai/DeepSeek-R1", precision="fp8"),
    engine=Engine(kind="vllm"),
)
"""


def best_of(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=REPO, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gpuform-bench-"))
    cases: list[tuple[str, list[str]]] = [("all examples", [])]
    for n in (1, 16, 128):
        path = work / f"bench_{n}.py"
        path.write_text(STACK_TEMPLATE.format(n=n))
        cases.append((f"{n}-node stack", [str(path)]))
    print(f"{'case':<16} {'resources':>9} {'gpuform s':>10} {'cdktf floor s':>14} {'ratio':>6}")
    for label, names in cases:
        out = work / label.replace(" ", "_")
        cmd = [str(BIN / "gpuform"), "synth", *names, "--out", str(out)]
        ours = best_of(cmd, args.repeat)
        jsons = sorted(str(p) for p in out.glob("stacks/*/cdk.tf.json"))
        resources = sum(_count(Path(j)) for j in jsons)
        floor = best_of(
            [sys.executable, str(REPO / "bench" / "cdktf_floor.py"), *jsons], args.repeat
        )
        print(f"{label:<16} {resources:>9} {ours:>10.2f} {floor:>14.2f} {ours / floor:>6.2f}")


def _count(path: Path) -> int:
    import json

    doc = json.loads(path.read_text())
    return sum(len(v) for kind in ("resource", "data") for v in doc.get(kind, {}).values())


if __name__ == "__main__":
    main()
