"""Run pytest test ids inside User-mode Linux, for tests the host kernel cannot run.

The host here is a Firecracker VM kernel without md (no /proc/mdstat, no modules, no modprobe),
so localdisk.sh's RAID-0 cannot be built on it. Debian's user-mode-linux package is a Linux
kernel that runs as an ordinary process (no KVM): with md-mod, raid0 and loop as modules and XFS
built in. It boots with the host's / as its root through hostfs, so the guest runs the same
checkout, venv, mdadm and xfsprogs as the host, and this module is also the guest's init:

    host: run_pytest(ids)  ->  linux.uml ... init=<workdir>/init  ->  python tests/uml.py <workdir>
    guest: mount /proc, /sys, a tmpfs on /run; load the modules; pytest ids; power off

The guest writes what happened into the host's workdir through a directory fd opened before
anything is mounted, and nothing else on the host: /run is a tmpfs inside the guest (mdadm
writes /run/mdadm/map, pytest's scratch goes below it), and no bytecode is written into the
checkout. /tmp is left alone: the checkout or its venv may live there.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path

#: Set in the guest's environment: a test that would skip on a kernel without md fails there.
IN_UML = "GPUFORM_IN_UML"
UML = "linux.uml"
MODULES_ROOT = Path("/usr/lib/uml/modules")
#: In dependency order (raid0 needs md-mod; modules.dep says so); no modprobe is needed.
MODULES = ("drivers/md/md-mod.ko", "drivers/md/raid0.ko", "drivers/block/loop.ko")
#: The guest's RAM, which also holds its tmpfs /run: the tests' sparse 128 MiB drives fill little.
MEMORY = "512M"
REPO = Path(__file__).resolve().parent.parent
RESULT = "result.json"
#: The guest's scratch, on its tmpfs /run: nothing the tests write lands on the host.
GUEST_TMP = "/run/gpuform-uml-tmp"
BOOTED = "booted"

_SYS_FINIT_MODULE = 313  # x86_64's number; cannot_run() turns other machines away
_LINUX_REBOOT_CMD_POWER_OFF = 0x4321FEDC


class UmlUnavailable(Exception):
    """User-mode Linux is missing or did not get as far as running our init; says why."""


@dataclass(frozen=True)
class GuestRun:
    """What pytest did inside the guest, and the guest kernel's console for context."""

    returncode: int
    output: str
    console: str

    def report(self) -> str:
        return f"pytest in User-mode Linux exited {self.returncode}:\n{self.output}\n" + (
            f"--- UML console (last lines) ---\n{_tail(self.console)}"
        )


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


@functools.cache
def cannot_run() -> str:
    """Why User-mode Linux cannot run the tests here, or "" when it can (as far as files go)."""
    if os.uname().machine != "x86_64":
        return f"the guest init here knows x86_64's system calls, not {os.uname().machine}'s"
    exe = shutil.which(UML)
    if exe is None:
        return (
            f"User-mode Linux is not installed ({UML} not on PATH; Debian package "
            "user-mode-linux, which tools/ensure-debian-tools.sh installs)"
        )
    version = subprocess.run(
        [exe, "--version"], capture_output=True, text=True, timeout=30, check=False
    ).stdout.strip()
    missing = [m for m in MODULES if not (MODULES_ROOT / version / "kernel" / m).is_file()]
    if not version or missing:
        return f"User-mode Linux {version or '?'} lacks modules under {MODULES_ROOT}: {missing}"
    return ""


def run_pytest(test_ids: list[str], timeout: float = 180) -> GuestRun:
    """Boot User-mode Linux, run `pytest test_ids` in it as root, and return what it did.

    Raises UmlUnavailable when UML is missing, cannot boot, or its kernel cannot load the
    modules; a guest that booted but then hung past `timeout` is a failure (AssertionError),
    not a skip. The UML processes and the work directory are gone when this returns or raises.
    """
    if why := cannot_run():
        raise UmlUnavailable(why)
    workdir = Path(tempfile.mkdtemp(prefix="gpuform-uml-"))
    try:
        (workdir / "ids.json").write_text(json.dumps(test_ids))
        init = workdir / "init"
        # The kernel execs init with no PATH and no venv; a shell line gives it both.
        guest_argv = [sys.executable, str(Path(__file__).resolve()), str(workdir)]
        init.write_text(f"#!/bin/sh\nexec {shlex.join(guest_argv)}\n")
        init.chmod(0o755)
        console = workdir / "console.log"
        argv = [
            UML,
            f"mem={MEMORY}",
            "rootfstype=hostfs",
            "rootflags=/",
            "rw",
            f"init={init}",
            # Console 0 reads nothing and writes to stdout (console.log); the rest are off.
            "con=null",
            "con0=null,fd:1",
            # Its pid file and management socket go into workdir, not ~/.uml.
            f"uml_dir={workdir}",
            "umid=gpuform",
        ]
        with console.open("wb") as out:
            # A session of its own so that every process UML forks dies with one killpg.
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, "TMPDIR": str(workdir)},
            )
            timed_out = False
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                # UML's helpers (a host process per guest address space) share its process
                # group: kill them all, guest powered off or hung; the second kill catches one
                # forked while the first was being sent.
                for _ in range(2):
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        log = console.read_text(errors="replace")
        booted = (workdir / BOOTED).exists()
        result_file = workdir / RESULT
        if not booted:
            how = f"timed out after {timeout:.0f} s" if timed_out else f"exited {proc.returncode}"
            raise UmlUnavailable(
                f"User-mode Linux did not boot to its init ({how}): "
                + " | ".join(_tail(log, 8).splitlines())
            )
        if not result_file.exists():
            how = f"timed out after {timeout:.0f} s" if timed_out else "powered off"
            raise AssertionError(f"the UML guest {how} without a result:\n{_tail(log, 60)}")
        result = json.loads(result_file.read_text())
        if "cannot" in result:
            raise UmlUnavailable(f"User-mode Linux booted but {result['cannot']}")
        return GuestRun(returncode=result["returncode"], output=result["output"], console=log)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# --- the guest side: this file run as init (PID 1) inside User-mode Linux -----------------

_libc = ctypes.CDLL(None, use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(fstype: str, target: str) -> None:
    _check(_libc.mount(fstype.encode(), target.encode(), fstype.encode(), 0, None), target)


def _load_modules() -> str:
    """Load MODULES with finit_module(2) (the guest has no modprobe); why not, or ""."""
    base = MODULES_ROOT / os.uname().release / "kernel"
    for module in MODULES:
        fd = os.open(base / module, os.O_RDONLY | os.O_CLOEXEC)
        try:
            if _libc.syscall(_SYS_FINIT_MODULE, fd, b"", 0) != 0:
                errno = ctypes.get_errno()
                return f"could not load {module}: {os.strerror(errno)}"
        finally:
            os.close(fd)
    return ""


def guest(workdir: Path) -> None:
    """PID 1 of the guest: run the ids from workdir, write RESULT there, always power off."""
    out = os.open(workdir, os.O_RDONLY | os.O_DIRECTORY)

    def write(name: str, text: str) -> None:
        # Via a directory fd opened first, wherever workdir lies.
        fd = os.open(f"{name}.part", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644, dir_fd=out)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.rename(f"{name}.part", name, src_dir_fd=out, dst_dir_fd=out)

    try:
        write(BOOTED, "")
        test_ids = json.loads((workdir / "ids.json").read_text())
        _mount("proc", "/proc")
        _mount("sysfs", "/sys")
        if not Path("/dev/null").exists():  # the kernel mounts devtmpfs itself (DEVTMPFS_MOUNT)
            _mount("devtmpfs", "/dev")
        # Private scratch: /run is a tmpfs (mdadm writes /run/mdadm/map), and pytest's files go
        # below it. /tmp stays the host's, where the checkout or its venv may well live (a
        # fresh CI clone under /tmp was hidden by a tmpfs there).
        _mount("tmpfs", "/run")
        os.makedirs(GUEST_TMP)
        if why := _load_modules():
            write(RESULT, json.dumps({"cannot": why}))
            return
        env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/root",
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "TMPDIR": GUEST_TMP,
            IN_UML: "1",
        }
        # No cache written into the checkout; no conftest.py, whose synth imports these tests
        # do not use and which cost seconds under UML's slow system calls.
        argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--noconftest"]
        done = subprocess.run(
            [*argv, f"--basetemp={GUEST_TMP}/pytest", "-q", *test_ids],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        write(
            RESULT, json.dumps({"returncode": done.returncode, "output": done.stdout + done.stderr})
        )
    except BaseException:
        write(RESULT, json.dumps({"returncode": -1, "output": traceback.format_exc()}))
    finally:
        os.sync()
        _libc.reboot(_LINUX_REBOOT_CMD_POWER_OFF)


if __name__ == "__main__":
    guest(Path(sys.argv[1]))
