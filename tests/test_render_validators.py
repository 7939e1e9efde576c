"""The real validators rendered output must pass, and proof that each of them can fail.

cloud-init, shellcheck and systemd-analyze come from Debian packages (cloud-init, shellcheck,
systemd). A missing tool fails these tests with the package to install: skipping would let
unvalidated boot files through.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

import pytest

_PACKAGES = {"cloud-init": "cloud-init", "shellcheck": "shellcheck", "systemd-analyze": "systemd"}
_HOST_UNITS = Path("/usr/lib/systemd/system")


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed; apt-get install {_PACKAGES[name]}")
    return path


def cloud_init_schema(text: str) -> subprocess.CompletedProcess[str]:
    """`cloud-init schema --config-file` (cloud-init 22.4's CLI) on a cloud-config text."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "user-data.yaml"
        path.write_text(text)
        return subprocess.run(
            [_tool("cloud-init"), "schema", "--config-file", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
        )


def shellcheck(script: str) -> subprocess.CompletedProcess[str]:
    """shellcheck at its strictest default severity (style), shell taken from the shebang."""
    return shellcheck_files({"/stdin.sh": script})


def shellcheck_files(scripts: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """One shellcheck run over several scripts; findings name each script's node path."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for node_path, content in scripts.items():
            target = Path(tmp) / node_path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
            paths.append(str(target.relative_to(tmp)))
        return subprocess.run(
            [_tool("shellcheck"), "--severity=style", *paths],
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=120,
        )


def verify_units(files: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """`systemd-analyze verify --root` over a node's units, with the node's files in place.

    The units' Exec* lines point only at gpuform's own scripts (docker is called from inside
    them), so a temporary root holding exactly the files the cloud-config writes, at their
    paths and modes, lets systemd check for real that every command exists and is executable
    and that every Requires=/Wants= unit resolves. The host's stock units (targets such as
    network-online.target) are copied in because every systemd ships them; docker.service is
    only named in After=, which systemd does not resolve, since the runtime step installs it.
    verify exits 0 on mere warnings (unknown keys), so callers also require empty output.
    """
    tool = _tool("systemd-analyze")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copytree(_HOST_UNITS, root / _HOST_UNITS.relative_to("/"), symlinks=True)
        units: list[str] = []
        for path, content in files.items():
            target = root / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
            if path.endswith(".sh"):
                target.chmod(0o755)
            if path.endswith((".service", ".target", ".mount", ".timer")):
                units.append(path)
        return subprocess.run(
            [tool, "verify", f"--root={root}", *units],
            capture_output=True,
            text=True,
            timeout=120,
        )


def assert_clean(result: subprocess.CompletedProcess[str], what: str) -> None:
    """rc 0; on failure the tool's own output is the message."""
    findings = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        pytest.fail(f"{what}: exit {result.returncode}\n{findings}")


def assert_silent(result: subprocess.CompletedProcess[str], what: str) -> None:
    """rc 0 and nothing printed (systemd-analyze warns on stderr yet exits 0)."""
    assert_clean(result, what)
    findings = (result.stdout + result.stderr).strip()
    assert not findings, f"{what}:\n{findings}"


# The validators must be able to fail: each gets one broken input.


def test_schema_rejects_a_broken_cloud_config() -> None:
    result = cloud_init_schema("#cloud-config\nruncmd: 5\nwrite_files:\n  - content: x\n")
    assert result.returncode != 0
    assert "runcmd" in result.stdout + result.stderr


def test_schema_accepts_a_minimal_cloud_config() -> None:
    assert_clean(cloud_init_schema("#cloud-config\nruncmd:\n  - [echo, hi]\n"), "minimal")


def test_shellcheck_rejects_unquoted_expansion() -> None:
    result = shellcheck("#!/bin/bash\nrm -rf $1/cache\n")
    assert result.returncode != 0
    assert "SC2086" in result.stdout


def test_verify_rejects_a_missing_exec_binary() -> None:
    unit = "[Service]\nType=oneshot\nExecStart=/usr/local/lib/gpuform/absent.sh\n"
    result = verify_units({"/etc/systemd/system/x.service": unit})
    assert result.returncode != 0
    assert "absent.sh" in result.stderr


def test_verify_rejects_a_missing_required_unit() -> None:
    unit = "[Unit]\nRequires=gpuform-nothing.service\n[Service]\nExecStart=/x.sh\n"
    result = verify_units({"/etc/systemd/system/x.service": unit, "/x.sh": "#!/bin/sh\n"})
    assert result.returncode != 0
    assert "gpuform-nothing.service" in result.stderr


def test_verify_reports_an_unknown_key() -> None:
    unit = "[Service]\nExecStart=/x.sh\nRestartSecs=3\n"
    result = verify_units({"/etc/systemd/system/x.service": unit, "/x.sh": "#!/bin/sh\n"})
    with pytest.raises(AssertionError, match="RestartSecs"):
        assert_silent(result, "typo")
