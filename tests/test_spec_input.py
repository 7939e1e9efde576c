"""Stack specs refuse what would reach Terraform, a policy or a script wrong (issue 17).

A validator anchored with `$` lets a trailing newline through, and the newline then lands in
shared-fs.sh or an IAM policy; a set of CIDRs can open SSH to the internet without 0.0.0.0/0;
pydantic turns a bare number into an address. Each case is a stack file, synthesized.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import run_cli

STACK = """
from infra.specs import (
    Deployment, Engine, Model, NodeGroup, SharedStorage, StackSpec, WeightCache,
)
stack = StackSpec(
    deployment=Deployment(
        name={name!r},
        region={region!r},
        ssh_allowed_cidrs={ssh},
        api_allowed_cidrs={api},
    ),
    nodes=NodeGroup(shape="VM.GPU.A10.1"),
    model=Model(id="deepseek-ai/DeepSeek-R1-Distill-Llama-8B", revision={revision!r}),
    engine=Engine(kind="vllm", max_model_len=4096, image={image!r}, tag={tag!r}),
    shared_storage=SharedStorage(mount_path={mount_path!r}),
    weights=WeightCache(bucket={bucket!r}, prefix={prefix!r}),
)
"""
GOOD: dict[str, object] = {
    "name": "spec-input",
    "region": "us-ashburn-1",
    "ssh": ["198.51.100.0/24"],
    "api": ["198.51.100.0/24"],
    "revision": "main",
    "image": "vllm/vllm-openai",
    "tag": "v0.8.5",
    "mount_path": "/mnt/shared",
    "bucket": "gpuform-weights",
    "prefix": "r1-distill-8b",
}


def _synth(tmp_path: Path, **override: object) -> tuple[int, str]:
    (tmp_path / "s.py").write_text(STACK.format(**{**GOOD, **override}))
    result = run_cli(["synth", "s.py", "--out", "out"], cwd=tmp_path)
    assert "Traceback" not in result.stderr
    return result.code, result.stderr


def test_the_good_stack_synthesizes(tmp_path: Path) -> None:
    code, err = _synth(tmp_path)
    assert code == 0, err


@pytest.mark.parametrize(
    ("field", "says"),
    [
        # jsii's traceback came from a stack id ending in a newline.
        ("name", "Deployment.name = 'spec-input\\n': use 3-40 lowercase letters"),
        ("region", "Deployment.region = 'us-ashburn-1\\n': use an OCI region identifier"),
        ("tag", "Engine.tag = 'v0.8.5\\n'"),
        ("image", "Engine.image = 'vllm/vllm-openai\\n'"),
        ("bucket", "WeightCache.bucket = 'gpuform-weights\\n'"),
        ("prefix", "WeightCache.prefix = 'r1-distill-8b\\n'"),
        ("mount_path", "SharedStorage.mount_path = '/mnt/shared\\n'"),
        ("revision", "Model.revision = 'main\\n'"),
    ],
)
def test_a_trailing_newline_is_refused(tmp_path: Path, field: str, says: str) -> None:
    code, err = _synth(tmp_path, **{field: f"{GOOD[field]}\n"})
    assert code == 2
    assert err.count("\n") == 1, err
    assert err.startswith(f"gpuform: s.py: {says}"), err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("cidrs", "says"),
    [
        (
            ["0.0.0.0/1", "128.0.0.0/1"],
            "Deployment.ssh_allowed_cidrs = ['0.0.0.0/1', '128.0.0.0/1']: SSH open to the "
            "internet; name your office or VPN range instead",
        ),
        (
            ["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/3", "224.0.0.0/3"],
            "SSH open to the internet",
        ),
        (
            [198],
            "Deployment.ssh_allowed_cidrs = [198]: 198 is not a CIDR; write it as a string such "
            "as '198.51.100.0/24'",
        ),
    ],
)
def test_ssh_cidrs_that_admit_the_internet_or_are_bare_numbers_are_refused(
    tmp_path: Path, cidrs: list[object], says: str
) -> None:
    code, err = _synth(tmp_path, ssh=cidrs)
    assert code == 2
    assert err.count("\n") == 1, err
    assert says in err


def test_a_bare_number_is_no_api_cidr_either(tmp_path: Path) -> None:
    code, err = _synth(tmp_path, api=["198.51.100.0/24", 10])
    assert code == 2
    assert "Deployment.api_allowed_cidrs = ['198.51.100.0/24', 10]: 10 is not a CIDR" in err
