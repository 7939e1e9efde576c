"""A wheel install works on its own: templates and data ship inside the package."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from .conftest import REPO


def test_wheel_carries_templates_and_renders_outside_the_checkout(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheels),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("gpuform-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("infra/_data/templates/") for n in names)
    assert any(n.startswith("infra/_data/cloud-init/") for n in names)
    assert "infra/catalog/shapes.json" in names
    assert "infra/tf/schema/oci.json" in names

    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    stack = REPO / "stacks" / "r1_distill_llama_8b_vllm.py"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    probe = subprocess.run(
        [sys.executable, "-c", "import infra.render.paths as p; print(p.templates_dir())"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.startswith(str(site)), "the wheel's copy must be the one in use"
    rendered = subprocess.run(
        [sys.executable, "-m", "infra.cli.main", "render", str(stack)],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert rendered.returncode == 0, rendered.stderr
    assert rendered.stdout.startswith("#cloud-config\n")
    assert "DeepSeek-R1-Distill-Llama-8B" in rendered.stdout
