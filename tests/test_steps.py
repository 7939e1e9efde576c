"""The step registry: declarations decide files, unit dependencies and the parts a step reads."""

from __future__ import annotations

import dataclasses

import pytest
from jinja2 import UndefinedError

from infra.node_plan import plan_nodes
from infra.render.context import NodeContext
from infra.render.jinja import environment
from infra.render.steps import STEPS, script_file, step, steps_for, unit_deps
from infra.sizing.settings import resolve
from infra.specs import Engine, Model, NodeGroup, StackSpec

from .factories import deployment

STACK = StackSpec(
    deployment=deployment("steps"),
    nodes=NodeGroup(shape="BM.GPU.H100.8"),
    model=Model(id="deepseek-ai/DeepSeek-R1-Distill-Llama-70B"),
    engine=Engine(kind="vllm"),
)


def _ctx() -> NodeContext:
    return plan_nodes(STACK, resolve(STACK))[0].context


def _unit_lines(text: str, key: str) -> list[str]:
    return [
        w
        for ln in text.splitlines()
        if ln.startswith(key + "=")
        for w in ln[len(key) + 1 :].split()
    ]


def test_every_unit_declares_exactly_its_registry_dependencies() -> None:
    ctx = _ctx()
    present = steps_for(ctx)
    files = plan_nodes(STACK, resolve(STACK))[0].files
    for s in present:
        unit = files[f"/etc/systemd/system/{s.unit}"]
        deps = unit_deps(s, present)
        assert _unit_lines(unit, "Requires") == list(deps.requires), s.name
        assert _unit_lines(unit, "After") == list(deps.after), s.name
        assert _unit_lines(unit, "Wants") == list(deps.wants), s.name


def test_a_required_step_the_node_lacks_is_left_out() -> None:
    # The engine requires api-key; a stack without a key has no such unit to require.
    ctx = _ctx()
    no_key = dataclasses.replace(ctx, api_key=None)
    deps = unit_deps(step("engine"), steps_for(no_key))
    assert "gpuform-api-key.service" not in deps.requires
    assert "gpuform-api-key.service" in unit_deps(step("engine"), steps_for(ctx)).requires


def test_a_template_reading_a_part_its_step_does_not_declare_fails() -> None:
    ctx = _ctx()
    ready = step("ready")
    parts = ctx.parts(ready.reads)
    template = environment().get_template("scripts/ready.sh.j2")
    assert "127.0.0.1" in template.render(parts, unit=None)
    without_engine = {k: v for k, v in parts.items() if k != "engine"}
    with pytest.raises(UndefinedError):
        template.render(without_engine, unit=None)


def test_every_declared_step_has_its_templates() -> None:
    names = set(environment().list_templates())
    for s in STEPS:
        assert f"units/{s.name}.service.j2" in names, s.name
        for script in s.scripts:
            assert f"scripts/{script_file(script)}.j2" in names, (s.name, script)
        for dep in (*s.requires, *s.wants):
            step(dep)  # a typo in a dependency is a KeyError here, not a silent omission


def test_steps_that_need_the_world_say_what_is_missing() -> None:
    for s in STEPS:
        assert bool(s.needs) == bool(s.missing_words), s.name
