"""One way for a node to get an OCI client: the oci-client step installs it, and every step that
reads OCI by instance principal (api-key, hub-token, a weights pull without a PAR) requires it.

Issue 18: two steps installed the CLI into one venv at once (api-key and hub-token, ordered only
after node-env), and the weights pull made its own venv, whose pip on Oracle Linux 8 (9.0.3)
cannot take the SDK's manylinux2014 wheels. The scripts run here for real: Oracle Linux's
branch in a mount namespace with its os-release, dnf and system Python standing in, Ubuntu's
with OL8's Python 3.6 and pip 9.0.3 venv, against a local index (tests/standins.py).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from infra.node_plan import NodePlan, plan_nodes
from infra.render.context import NodeContext
from infra.render.jinja import environment
from infra.render.steps import step
from infra.sizing.settings import resolve
from infra.specs import Endpoint, Engine, Model, NodeGroup, StackSpec, WeightCache

from . import nodecov, standins
from .factories import deployment

LIB = "/usr/local/lib/gpuform"
UNITS = "/etc/systemd/system"
DEP = deployment("ocic")
UBUNTU = NodeGroup(
    shape="VM.GPU.A10.1", image={"operating_system": "Canonical Ubuntu", "custom": True}
)
OL8 = NodeGroup(shape="VM.GPU.A10.1")
OL9 = NodeGroup(shape="VM.GPU.A10.1", image={"operating_system_version": "9"})
SMALL = "deepseek-ai/DeepSeek-R1-Distill-Llama-8B"
PY36 = standins.python36()


def _node(nodes: NodeGroup, **kw: Any) -> NodePlan:
    stack = StackSpec(
        deployment=DEP,
        nodes=nodes,
        model=Model(id=SMALL, hub_token=kw.pop("hub_token", False)),
        engine=Engine(kind="vllm", max_model_len=4096),
        **kw,
    )
    return plan_nodes(stack, resolve(stack))[0]


def _requires(plan: NodePlan, name: str) -> list[str]:
    unit = plan.files[f"{UNITS}/gpuform-{name}.service"]
    line = next((ln for ln in unit.splitlines() if ln.startswith("Requires=")), "Requires=")
    return line.split("=", 1)[1].split()


_INSTALLS = ("pip install", "dnf install", "-m venv", "apt-get")


@pytest.mark.parametrize(
    ("nodes", "extra", "users"),
    [
        (UBUNTU, {"hub_token": True}, ("api-key", "hub-token")),
        (OL8, {"weights": WeightCache(bucket="models")}, ("api-key", "weights")),
    ],
    ids=["ubuntu-key-and-token", "ol8-key-and-bucket-by-instance-principal"],
)
def test_one_step_installs_the_client_and_every_step_that_uses_it_requires_it(
    nodes: NodeGroup, extra: dict[str, Any], users: tuple[str, ...]
) -> None:
    plan = _node(nodes, **extra)
    installers = [
        p for p, text in plan.files.items()
        if p.endswith(".sh") and "oci" in text and any(i in text for i in _INSTALLS)
        and any(w in text for w in ("oci-cli", "install -q oci", "oci-sdk"))
    ]  # fmt: skip
    assert installers == [f"{LIB}/oci-client.sh"], installers
    for name in users:
        assert "gpuform-oci-client.service" in _requires(plan, name), name
        assert (
            "EnvironmentFile=/etc/gpuform/oci-client.env"
            in plan.files[f"{UNITS}/gpuform-{name}.service"]
        )


def test_nodes_that_read_nothing_by_instance_principal_get_no_client() -> None:
    par = WeightCache(bucket="models", par_expires=datetime(2099, 1, 1, tzinfo=UTC))
    plan = _node(OL8, weights=par, endpoint=Endpoint(require_api_key=False))
    assert not any("oci-client" in p for p in plan.files)


# --- oci-client.sh, run for real ---------------------------------------------------------------


def _script(tmp_path: Path, plan: NodePlan) -> tuple[Path, NodeContext]:
    ctx = plan.context
    paths = dataclasses.replace(
        ctx.paths,
        etc=str(tmp_path / "etc"),
        logs=str(tmp_path / "log"),
        oci_venv=str(tmp_path / "opt/oci-cli"),
    )
    ctx = dataclasses.replace(ctx, paths=paths)
    text = (
        environment()
        .get_template("scripts/oci-client.sh.j2")
        .render(ctx.parts(step("oci-client").reads))
    )
    script = tmp_path / "oci-client.sh"
    script.write_text(text)
    script.chmod(0o755)
    return script, ctx


def _env_file(ctx: NodeContext) -> dict[str, str]:
    text = Path(ctx.paths.oci_client_env).read_text()
    return dict(line.split("=", 1) for line in text.splitlines())


def _run_ol(
    tmp_path: Path, release: str, python: Path, offline: bool = False, runs: int = 1
) -> tuple[list[subprocess.CompletedProcess[str]], NodeContext, Path]:
    script, ctx = _script(tmp_path, _node(OL8 if release.startswith("8") else OL9, hub_token=True))
    calls = tmp_path / "dnf.calls"
    usr_bin, os_release = standins.oracle_linux_root(tmp_path / "root", release, python, calls)
    env = {**os.environ, **({"GPUFORM_TEST_OFFLINE": "1"} if offline else {})}
    argv = standins.in_oracle_linux(usr_bin, os_release, tmp_path, ["/bin/bash", str(script)])
    results = [
        subprocess.run(
            argv, capture_output=True, text=True, timeout=120, env=nodecov.script_env(env)
        )
        for _ in range(runs)
    ]
    return results, ctx, calls


@pytest.mark.parametrize(
    ("release", "pkg", "py"),
    [
        ("8.10", "python36-oci-cli", "/usr/bin/python3.6"),
        ("9.6", "python39-oci-cli", "/usr/bin/python3.9"),
    ],
)
def test_oracle_linux_installs_the_packaged_cli_once_and_no_venv(
    tmp_path: Path, release: str, pkg: str, py: str
) -> None:
    real = PY36 if release.startswith("8") and PY36 else Path(os.path.realpath("/usr/bin/python3"))
    (first, again), ctx, calls = _run_ol(tmp_path, release, real, runs=2)
    assert first.returncode == 0, first.stderr
    assert (
        first.stderr == ""
        and first.stdout == f"gpuform: OCI client ready (/usr/bin/oci; oci SDK in {py})\n"
    )
    assert _env_file(ctx) == {"GPUFORM_OCI": "/usr/bin/oci", "GPUFORM_OCI_PYTHON": py}
    major = release.split(".")[0]
    # The second run finds both and installs nothing.
    assert again.returncode == 0, again.stderr
    assert calls.read_text().splitlines() == [
        f"install -y oraclelinux-developer-release-el{major}",
        f"install -y {pkg}",
    ]
    assert not Path(ctx.paths.oci_venv).exists()


def test_oracle_linux_offline_is_one_line_naming_the_internet(tmp_path: Path) -> None:
    (r,), ctx, _ = _run_ol(
        tmp_path, "8.10", Path(os.path.realpath("/usr/bin/python3")), offline=True
    )
    assert r.returncode == 1
    (line,) = r.stderr.splitlines()
    assert line == (
        "gpuform: dnf cannot install python36-oci-cli; the node needs internet access (NAT gateway)"
        f" (details: {ctx.paths.logs}/oci-client.log)"
    )
    assert "Couldn't resolve host" in Path(ctx.paths.logs, "oci-client.log").read_text()
    assert not Path(ctx.paths.oci_client_env).exists()


@pytest.mark.skipif(PY36 is None, reason="no CPython 3.6 here (pyenv's build stands in for OL8's)")
def test_the_stand_in_venv_is_pip_9_which_cannot_take_manylinux2014_wheels(tmp_path: Path) -> None:
    """The stand-in fails where OL8 does (pip 9.0.3 and a manylinux2014-only package)."""
    assert PY36 is not None
    python3 = standins.ol8_python3(tmp_path / "bin", PY36)
    env = {**os.environ, **standins.package_index(tmp_path)}
    venv = tmp_path / "venv"
    subprocess.run([str(python3), "-m", "venv", str(venv)], check=True, env=env, timeout=120)
    version = subprocess.run(
        [str(venv / "bin/pip"), "--version"], capture_output=True, text=True, env=env
    )
    assert version.stdout.startswith(f"pip {standins.PIP9} ")
    r = subprocess.run(
        [str(venv / "bin/pip"), "install", "oci-cli"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode != 0 and "No matching distribution found for oci-cli" in r.stdout + r.stderr


@pytest.mark.skipif(PY36 is None, reason="no CPython 3.6 here (pyenv's build stands in for OL8's)")
def test_a_venv_gets_its_pip_upgraded_before_the_cli(tmp_path: Path) -> None:
    """Ubuntu's branch on a Python whose venv pip predates manylinux2014 still installs."""
    assert PY36 is not None
    script, ctx = _script(tmp_path, _node(UBUNTU, hub_token=True))
    standins.ol8_python3(tmp_path / "bin", PY36)
    env = {
        **os.environ,
        **standins.package_index(tmp_path),
        "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
    }
    r = subprocess.run(
        ["/bin/bash", str(script)],
        capture_output=True,
        text=True,
        timeout=300,
        env=nodecov.script_env(env),
    )
    assert r.returncode == 0, r.stderr + Path(ctx.paths.logs, "oci-client.log").read_text()
    venv = Path(ctx.paths.oci_venv)
    assert r.stdout == f"gpuform: OCI client ready ({venv}/bin/oci; oci SDK in {venv}/bin/python)\n"
    assert _env_file(ctx) == {
        "GPUFORM_OCI": f"{venv}/bin/oci",
        "GPUFORM_OCI_PYTHON": f"{venv}/bin/python",
    }
    pip = subprocess.run(
        [str(venv / "bin/pip"), "--version"], capture_output=True, text=True, env=env
    )
    assert pip.stdout.startswith(f"pip {standins.PIP_LAST_36} ")
    assert (
        subprocess.run([str(venv / "bin/oci")], capture_output=True, text=True).stdout == "3.0.0\n"
    )


def test_ubuntu_offline_is_one_line_naming_the_internet(tmp_path: Path) -> None:
    script, ctx = _script(tmp_path, _node(UBUNTU, hub_token=True))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # A python3 without ensurepip, and apt-get that cannot reach its mirror.
    (bin_dir / "python3").write_text(
        '#!/bin/sh\n[ "$2" = "import ensurepip" ] && exit 1\nexec /usr/bin/python3 "$@"\n'
    )
    (bin_dir / "apt-get").write_text(
        "#!/bin/sh\necho 'E: Failed to fetch http://archive.ubuntu.com"
        "  Temporary failure resolving' >&2\nexit 100\n"
    )
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}"}
    r = subprocess.run(
        ["/bin/bash", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        env=nodecov.script_env(env),
    )
    assert r.returncode == 1
    (line,) = r.stderr.splitlines()
    assert line.startswith(
        "gpuform: cannot install python3-venv for the OCI CLI; the node needs internet access"
    )
    assert not Path(ctx.paths.oci_client_env).exists()


# --- weights.sh by instance principal: the client the step named, or one line ------------------


def _weights(tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], Path]:
    plan = _node(OL8, weights=WeightCache(bucket="models"))
    ctx = plan.context
    assert ctx.weights is not None and ctx.weights.instance_principal
    lib = tmp_path / "lib"
    lib.mkdir()
    paths = dataclasses.replace(
        ctx.paths, lib=str(lib), logs=str(tmp_path / "log"), state=str(tmp_path / "state"),
        etc=str(tmp_path / "etc"),
    )  # fmt: skip
    weights = dataclasses.replace(
        ctx.weights, link=str(tmp_path / "link"), log=str(tmp_path / "log/weights.log"),
        state=str(tmp_path / "state/verified.json"),
    )  # fmt: skip
    ctx = dataclasses.replace(ctx, paths=paths, weights=weights)
    text = (
        environment().get_template("scripts/weights.sh.j2").render(ctx.parts(step("weights").reads))
    )
    script = tmp_path / "weights.sh"
    script.write_text(text)
    argv = tmp_path / "fetch.argv"
    # The pull itself is tested in tests/test_weights_pull.py; here, who runs it and with what.
    (lib / "weights-fetch.py").write_text(
        "import sys, oci\n"
        f"open({str(argv)!r}, 'w').write(sys.executable + '\\n' + '\\n'.join(sys.argv[1:]))\n"
    )
    r = subprocess.run(["/bin/bash", str(script)], capture_output=True, text=True, timeout=60,
                       env=nodecov.script_env({"PATH": os.environ["PATH"], **env}))  # fmt: skip
    return r, argv


def test_the_pull_signs_with_the_python_the_client_step_named(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "oci").mkdir(parents=True)
    (site / "oci" / "__init__.py").write_text("")
    py = tmp_path / "python3.6"
    py.write_text(f'#!/bin/sh\nPYTHONPATH={site} exec /usr/bin/python3 "$@"\n')
    py.chmod(0o755)
    r, argv = _weights(tmp_path, {"GPUFORM_OCI_PYTHON": str(py), "GPUFORM_WEIGHTS_NAMESPACE": "ns"})
    assert r.returncode == 0, r.stderr
    lines = argv.read_text().splitlines()
    assert lines[lines.index("--oci") + 1] == "us-ashburn-1/ns/models"
    assert "--base-url" not in lines


@pytest.mark.parametrize(
    ("env", "words"),
    [
        (
            {"GPUFORM_OCI_PYTHON": "/usr/bin/python3"},
            "metadata key gpuform_weights_namespace is empty",
        ),
        ({"GPUFORM_WEIGHTS_NAMESPACE": "ns"}, "no Python with the oci SDK in"),
    ],
    ids=["no-namespace", "no-client"],
)
def test_the_pull_without_what_it_needs_is_one_line(
    tmp_path: Path, env: dict[str, str], words: str
) -> None:
    r, argv = _weights(tmp_path, env)
    assert r.returncode == 1
    (line,) = r.stderr.splitlines()
    assert line.startswith("gpuform: weights: ") and words in line, line
    assert not argv.exists()
