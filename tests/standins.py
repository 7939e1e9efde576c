"""Stand-ins for what a node's scripts call, built to behave like the real thing where a branch
depends on it: an Oracle Linux root (os-release, dnf, the packaged CLI and SDK), Oracle Linux
8's Python 3.6 whose venv carries pip 9.0.3, and the OCI CLI as PyPI serves it.

- OL8's venv pip: RHEL 8's python3 venv gets pip 9.0.3 (Red Hat bug 1701286; StackStorm/st2
  issue #4930). The stand-in is a real CPython 3.6 (pyenv's build) whose `-m venv` installs
  pip 9.0.3 from its wheel, so what pip does with a wheel is pip 9's own code.
- PyPI's oci-cli: the SDK's dependencies ship manylinux2014 wheels, which pip learned in 19.3
  (PEP 599); the stand-in index holds an `oci-cli` wheel tagged manylinux2014 alone, carrying
  an `oci` module and an `oci` console script, and pip 21.3.1 (the last for Python 3.6).
- dnf: records its arguments; `install python36-oci-cli` (OL8) or `python39-oci-cli` (OL9)
  puts /usr/bin/oci and an `oci` module where that release's system Python finds it
  (docs.oracle.com .../SDKDocs/cliinstall.htm: /usr/lib/python3.6/site-packages on OL8).
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

PIP9 = "9.0.3"
PIP_LAST_36 = "21.3.1"
WHEEL_CACHE = Path.home() / ".cache" / "gpuform-tests" / "wheels"


def python36() -> Path | None:
    """A working CPython 3.6 (pyenv's build), or None."""
    found = [
        shutil.which("python3.6"),
        *map(str, Path.home().glob(".pyenv/versions/3.6*/bin/python3.6")),
    ]
    for cand in filter(None, found):
        ok = subprocess.run(
            [cand, "-c", "import sys; assert sys.version_info[:2] == (3, 6)"], capture_output=True
        ).returncode == 0  # fmt: skip
        if ok:
            return Path(cand)
    return None


def pip_wheel(version: str) -> Path:
    """pip's wheel of `version`, from PyPI once, then from the cache."""
    name = (
        f"pip-{version}-py2.py3-none-any.whl"
        if version == PIP9
        else f"pip-{version}-py3-none-any.whl"
    )
    path = WHEEL_CACHE / name
    if not path.exists():
        WHEEL_CACHE.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
        argv += ["--only-binary", ":all:", "-d", str(WHEEL_CACHE), f"pip=={version}"]
        subprocess.run(argv, check=True, capture_output=True, timeout=300)
    return path


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def oci_cli_wheel(index: Path) -> Path:
    """An `oci-cli` wheel tagged manylinux2014 (as the SDK's dependencies are on PyPI)."""
    index.mkdir(parents=True, exist_ok=True)
    info = "oci_cli-3.0.0.dist-info"
    files = {
        "oci/__init__.py": b'__version__ = "2.189.0"  # gpuform test stand-in\n',
        "oci_cli/__init__.py": b"",
        "oci_cli/cli.py": b"def main():\n    print('3.0.0')\n",
        f"{info}/METADATA": b"Metadata-Version: 2.1\nName: oci-cli\nVersion: 3.0.0\n",
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: gpuform-tests\nRoot-Is-Purelib: false\n"
        b"Tag: py3-none-manylinux2014_x86_64\n",
        f"{info}/entry_points.txt": b"[console_scripts]\noci = oci_cli.cli:main\n",
        f"{info}/top_level.txt": b"oci\noci_cli\n",
    }
    record = [_record_line(n, d) for n, d in files.items()] + [f"{info}/RECORD,,"]
    wheel = index / "oci_cli-3.0.0-py3-none-manylinux2014_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for n, d in files.items():
            z.writestr(n, d)
        z.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return wheel


def package_index(root: Path) -> dict[str, str]:
    """A local index (pip's find-links) holding the oci-cli stand-in and pip 21.3.1; the
    environment that points pip 9 and pip 21 alike at it and at nothing else."""
    index = root / "index"
    oci_cli_wheel(index)
    shutil.copy(pip_wheel(PIP_LAST_36), index)
    return {
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(index),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_CACHE_DIR": str(root / "pip-cache"),
    }


def ol8_python3(bin_dir: Path, real: Path) -> Path:
    """`python3` as on Oracle Linux 8: CPython 3.6, whose `-m venv` gives pip 9.0.3."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    pip9 = pip_wheel(PIP9)
    wrapper = bin_dir / "python3"
    wrapper.write_text(
        "#!/bin/bash\n"
        "# OL8's python3 (tests/standins.py): a venv made here carries pip 9.0.3.\n"
        'if [ "${1:-}" = -m ] && [ "${2:-}" = venv ]; then\n'
        f'  {real} "$@" || exit\n'
        '  for d in "$@"; do dest=$d; done\n'
        f'  "$dest/bin/python" -m pip install -q --no-index --force-reinstall {pip9} || exit\n'
        "  exit 0\n"
        "fi\n"
        f'exec {real} "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper


def oracle_linux_root(
    upper: Path, release: str, real_python: Path, calls: Path
) -> tuple[Path, Path]:
    """Files for an overlay on /usr/bin (returned: its upper dir) and the os-release to bind on
    /etc/os-release, for an Oracle Linux `release` ("8.10", "9.6"): its system Python (a
    wrapper of `real_python` that sees the packaged SDK once dnf installed it) and dnf."""
    major = release.split(".")[0]
    pyver, pkg = ("3.6", "python36-oci-cli") if major == "8" else ("3.9", "python39-oci-cli")
    usr_bin, site = upper / "usr-bin", upper / "site-packages"
    usr_bin.mkdir(parents=True)
    site.mkdir()
    py = usr_bin / f"python{pyver}"
    py.write_text(f'#!/bin/sh\nPYTHONPATH={site} exec {real_python} "$@"\n')
    py.chmod(0o755)
    dnf = usr_bin / "dnf"
    dnf.write_text(
        "#!/bin/bash\n"
        f'printf "%s\\n" "$*" >>{calls}\n'
        'if [ -n "${GPUFORM_TEST_OFFLINE:-}" ]; then\n'
        '  echo "Curl error (6): Couldn\'t resolve host name for yum.oracle.com" >&2\n'
        "  exit 1\n"
        "fi\n"
        f'if [[ " $* " == *" {pkg} "* ]]; then\n'
        f"  mkdir -p {site}/oci && echo '__version__ = \"2.189.0\"' >{site}/oci/__init__.py\n"
        "  printf '#!/bin/sh\\necho 3.0.0\\n' >/usr/bin/oci && chmod 755 /usr/bin/oci\n"
        "fi\n"
    )
    dnf.chmod(0o755)
    os_release = upper / "os-release"
    os_release.write_text(f'NAME="Oracle Linux Server"\nID="ol"\nVERSION_ID="{release}"\n')
    return usr_bin, os_release


def in_oracle_linux(usr_bin: Path, os_release: Path, work: Path, argv: list[str]) -> list[str]:
    """`argv` run in a private mount namespace where /usr/bin is overlaid with `usr_bin`
    (writes land there too) and /etc/os-release is `os_release`."""
    w = work / "overlay-work"
    w.mkdir(parents=True, exist_ok=True)
    setup = (
        f"mount -t overlay overlay -o lowerdir=/usr/bin,upperdir={usr_bin},workdir={w} /usr/bin"
        f' && mount --bind {os_release} /etc/os-release && exec "$@"'
    )
    return [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "--",
        "/bin/bash",
        "-c",
        setup,
        "_",
        *argv,
    ]
