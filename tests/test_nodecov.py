"""The node-coverage tool agrees with its consumers: bash's own xtrace decides which lines a
script can report, and every example's scripts map back to their template lines."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path

from infra.node_plan import plan_nodes
from infra.render.jinja import environment
from infra.render.steps import step, steps_for
from infra.sizing.settings import resolve
from infra.stacks import load_examples
from tests.nodecov import bash_env, origins
from tests.nodecov.lines import Kind, classify
from tests.nodecov.report import bash_hits

# Every construct the node scripts use, each run once.
SCRIPT = """#!/bin/bash
# a comment
set -uo pipefail
fail() { echo "gpuform: $*" >&2; exit 1; }
x=$(echo a |
  tr a b)
case $x in
  b) y=1 ;;
  /dev/*) ;;
  *) y=2 ;;
esac
for i in 1 2; do
  z=$i
done
if [ "$x" = b ] \\
  && true; then
  w=1
fi
cat >/dev/null <<'E'
heredoc body
E
{ echo q && echo r; } >/dev/null \\
  || fail "never"
until true; do sleep 1; done
[[ -n $x ]] && v=$((1 + 2))
arr=(a
  b)
printf '%s %s\\n' "$x" \\
  "$y" >/dev/null
f2() {
  local q=1
  echo "$q" >/dev/null
}
f2
echo done >/dev/null
"""


def test_bash_reports_only_lines_the_reader_counts_and_every_command_that_ran(
    tmp_path: Path,
) -> None:
    script = tmp_path / "t.sh"
    script.write_text(SCRIPT)
    dest = tmp_path / "cov"
    env = {"PATH": os.environ["PATH"], **bash_env(dest)}
    r = subprocess.run(["/bin/bash", str(script)], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    (trace,) = (dest / "bash" / "trace").glob("*")
    reported = {
        int(line.split("@")[3])
        for line in trace.read_text().splitlines()[1:]
        if "@gfcov@" in line and line.split("@")[2] == str(script)
    }
    kinds = classify(tuple(SCRIPT.splitlines()))
    counted = {n for n, k in enumerate(kinds, 1) if k is not Kind.SKIP}
    commands = {n for n, k in enumerate(kinds, 1) if k is Kind.COMMAND}
    assert reported <= counted, sorted(reported - counted)
    lines = SCRIPT.splitlines()
    # Everything ran here but `fail`'s body, the else-less `*)` and the `until` body.
    not_run = {lines.index(ln) + 1 for ln in lines if "fail" in ln or "y=2" in ln or "sleep" in ln}
    assert commands - not_run <= reported, sorted(commands - not_run - reported)
    # stderr stays the script's own: tracing goes to a file of its own.
    assert stderr_is_clean(r)


def stderr_is_clean(r: subprocess.CompletedProcess[str]) -> bool:
    return "@gfcov@" not in r.stdout + r.stderr


def test_every_example_script_maps_back_to_its_template_lines() -> None:
    env = environment()
    for stack in load_examples().values():
        for plan in plan_nodes(stack, resolve(stack)):
            ctx = plan.context
            for s in steps_for(ctx):
                for name in s.scripts:
                    if not name.endswith(".py") and "." not in name:
                        template = f"scripts/{name}.sh.j2"
                        variables = ctx.parts(s.reads)
                        text = env.get_template(template).render(variables)
                        r = origins.origins_of(template, text, variables)
                        assert r is not None, (stack.name, template)
                        assert any(o is not None for o in r.origins), (stack.name, template)


def test_a_trace_counts_for_the_template_line_behind_it(tmp_path: Path) -> None:
    """A test's render (other paths) and an example's share template lines."""
    stack = load_examples()["r1-distill-llama-8b"]
    ctx = plan_nodes(stack, resolve(stack))[0].context
    ctx = dataclasses.replace(ctx, paths=dataclasses.replace(ctx.paths, logs=str(tmp_path)))
    variables = ctx.parts(step("growfs").reads)
    text = environment().get_template("scripts/growfs.sh.j2").render(variables)
    r = origins.origins_of("scripts/growfs.sh.j2", text, variables)
    assert r is not None
    origins.save(tmp_path / "cov", r, text)
    script = tmp_path / "growfs.sh"
    script.write_text(text)
    env = {"PATH": os.environ["PATH"], **bash_env(tmp_path / "cov")}
    subprocess.run(["/bin/bash", str(script)], capture_output=True, env=env)
    hits, unknown = bash_hits(tmp_path / "cov")
    assert unknown == []
    source = Path("templates/scripts/growfs.sh.j2").read_text().splitlines()
    log_line = next(i for i, ln in enumerate(source, 1) if ln.startswith("log="))
    assert ("scripts/growfs.sh.j2", log_line) in hits
