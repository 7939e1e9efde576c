"""The shipped localdisk.sh on loop devices: a RAID-0 with XFS, a rerun that changes nothing, and
drives it did not prepare left alone.

The script is the one a BM.GPU4.8 node (4 local NVMe drives) boots with, from the node plan,
driven through its GPUFORM_LOCALDISK_* overrides: loop devices as drives, a free md device, and
a mount point, fstab and mdadm.conf under the test's tmp_path. Everything a test sets up
(mounts, md arrays, loop devices) is torn down also when it fails.

Only a kernel that cannot do it skips: no loop devices, no md driver or raid0 personality, no
XFS, each detected (after modprobe, where there is one) and named in the skip reason. Where the
host kernel has no md (a Firecracker VM's), the RAID tests run inside User-mode Linux instead
(tests/uml.py; docs/testing-localdisk.md), where they must pass, not skip.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
import struct
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from infra.node_plan import plan_nodes
from infra.sizing.settings import resolve
from infra.specs import Engine, Model, NodeGroup, StackSpec
from tests import uml

from .factories import deployment

pytestmark = pytest.mark.slow

SCRIPT = "/usr/local/lib/gpuform/localdisk.sh"
STACK = StackSpec(
    deployment=deployment("localdisk"),
    nodes=NodeGroup(shape="BM.GPU4.8"),  # 4 local NVMe drives
    model=Model(id="deepseek-ai/DeepSeek-R1-Distill-Llama-8B"),
    engine=Engine(kind="tgi"),
)

TOOLS = ("mdadm", "mkfs.xfs", "mkfs.ext4", "losetup", "blkid", "lsblk", "mountpoint", "findmnt")
#: xfsprogs 5.19+ refuses file systems under 300 MB: 4 x 128 MiB leaves room past md's overhead.
DISK_BYTES = 128 << 20


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def _modprobe(module: str) -> None:
    # Modules load on demand only where there is a modprobe; a built-in driver needs none.
    if shutil.which("modprobe"):
        _run("modprobe", "-q", module)


@functools.cache
def _cannot_loop() -> str:
    """Why loop devices cannot be used here, or "" when they can."""
    if os.geteuid() != 0:
        return "needs root: it attaches loop devices and builds md arrays"
    if not Path("/dev/loop-control").exists():
        _modprobe("loop")
    if not Path("/dev/loop-control").exists():
        return "this kernel has no loop devices (/dev/loop-control is missing; CONFIG_BLK_DEV_LOOP)"
    return ""


@functools.cache
def _cannot_raid() -> str:
    """Why an md RAID-0 with XFS cannot be built here, or "" when it can."""
    if why := _cannot_loop():
        return why
    for module in ("md_mod", "raid0", "xfs"):
        _modprobe(module)
    mdstat = Path("/proc/mdstat")
    if not mdstat.exists():
        return (
            "this kernel has no md (software RAID) driver: "
            "/proc/mdstat is missing (CONFIG_BLK_DEV_MD)"
        )
    personalities = mdstat.read_text().splitlines()[0]
    if "[raid0]" not in personalities:
        return f"this kernel's md driver has no raid0 personality ({personalities.strip()!r})"
    if "xfs" not in Path("/proc/filesystems").read_text().split():
        return "this kernel cannot mount XFS (not in /proc/filesystems; CONFIG_XFS_FS)"
    return ""


def _free_md() -> str:
    """An md device no array uses, far from the /dev/md0 and /dev/md127 a host would have."""
    for n in range(117, 127):
        if not Path(f"/sys/block/md{n}").exists() and not Path(f"/dev/md{n}").exists():
            return f"/dev/md{n}"
    raise AssertionError("no free md device among /dev/md117..126")


def _holders(dev: str) -> list[str]:
    """Block devices built on `dev` (an md array holding a loop device)."""
    d = Path("/sys/class/block") / Path(dev).name / "holders"
    return [f"/dev/{h.name}" for h in d.iterdir()] if d.is_dir() else []


def _mbr_with_one_partition() -> bytes:
    """A DOS partition table (first sector) with one Linux partition from sector 2048 on."""
    sectors = DISK_BYTES // 512 - 2048
    entry = struct.pack("<B3sB3sII", 0, b"\xff\xff\xfe", 0x83, b"\xff\xff\xfe", 2048, sectors)
    return bytes(446) + entry + bytes(48) + b"\x55\xaa"


def _digest(dev: str) -> str:
    with open(dev, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _probe(dev: str, tag: str) -> str:
    return _run("blkid", "-p", "-o", "value", "-s", tag, dev).stdout.strip()


@dataclass
class Lab:
    """Loop-backed drives, the rendered script and where it may write; undone by close()."""

    root: Path
    md: str
    loops: list[str] = field(default_factory=list)

    @property
    def mount(self) -> Path:
        return self.root / "localdisk"

    @property
    def fstab(self) -> Path:
        return self.root / "fstab"

    @property
    def conf(self) -> Path:
        return self.root / "mdadm.conf"

    @property
    def script(self) -> Path:
        return self.root / "localdisk.sh"

    def disk(self, fs: str | None = None, partitioned: bool = False) -> str:
        """A fresh loop device over a sparse file, optionally with a file system or partition."""
        backing = self.root / f"disk{len(self.loops)}.img"
        with backing.open("wb") as fh:
            fh.truncate(DISK_BYTES)
        if partitioned:
            with backing.open("r+b") as fh:
                fh.write(_mbr_with_one_partition())
        attached = _run("losetup", "--find", "--show", "--partscan", str(backing))
        assert attached.returncode == 0, f"losetup: {attached.stderr}"
        dev = attached.stdout.strip()
        self.loops.append(dev)
        if fs is not None:
            made = _run(f"mkfs.{fs}", "-q", dev)
            assert made.returncode == 0, made.stderr
        return dev

    def run(self, drives: list[str]) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "GPUFORM_LOCALDISK_DRIVES": " ".join(drives),
            "GPUFORM_LOCALDISK_MD": self.md,
            "GPUFORM_LOCALDISK_MOUNT": str(self.mount),
            "GPUFORM_LOCALDISK_FSTAB": str(self.fstab),
            "GPUFORM_LOCALDISK_MDADM_CONF": str(self.conf),
        }
        return subprocess.run(
            [str(self.script)], env=env, capture_output=True, text=True, timeout=300, check=False
        )

    def mounted(self) -> bool:
        return _run("mountpoint", "-q", str(self.mount)).returncode == 0

    def unmount(self) -> None:
        if self.mounted():
            done = _run("umount", str(self.mount))
            if done.returncode != 0:
                _run("umount", "-l", str(self.mount))

    def arrays(self) -> list[str]:
        """md arrays on our loop devices (the script's, under whatever name it came up as)."""
        return sorted({h for loop in self.loops for h in _holders(loop) if "/md" in h})

    def close(self) -> None:
        """Undo everything, each step on its own, so one failure does not strand the rest."""
        with contextlib.suppress(Exception):
            self.unmount()
        with contextlib.suppress(Exception):
            for md in self.arrays():
                _run("mdadm", "--stop", md)
        for loop in self.loops:
            with contextlib.suppress(Exception):
                _run("losetup", "--detach", loop)


def _skip_unless_uml_could_not(why: str) -> None:
    # Inside User-mode Linux the guest exists to run these: a skip there would pass the outer
    # test with nothing tested, so it fails instead.
    if os.environ.get(uml.IN_UML):
        pytest.fail(f"inside User-mode Linux: {why}")
    pytest.skip(why)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    if why := _cannot_loop():
        _skip_unless_uml_could_not(why)
    missing = [t for t in TOOLS if not shutil.which(t)]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: install them with tools/ensure-debian-tools.sh")
    lab = Lab(root=tmp_path, md=_free_md())
    lab.script.write_text(plan_nodes(STACK, resolve(STACK))[0].files[SCRIPT])
    lab.script.chmod(0o755)
    try:
        yield lab
    finally:
        lab.close()


@pytest.fixture
def raid_lab(lab: Lab) -> Lab:
    if why := _cannot_raid():
        if not os.environ.get(uml.IN_UML) and not uml.cannot_run():
            why += "; test_raid_tests_in_user_mode_linux runs this test in User-mode Linux instead"
        _skip_unless_uml_could_not(why)
    return lab


def _one_line(text: str) -> str:
    lines = text.splitlines()
    assert len(lines) == 1 and lines[0].startswith("gpuform: "), lines
    return lines[0]


def test_refuses_drives_holding_what_it_did_not_make(lab: Lab) -> None:
    ext4 = lab.disk(fs="ext4")
    part = lab.disk(partitioned=True)
    before = {d: _digest(d) for d in (ext4, part)}
    uuid = _probe(ext4, "UUID")
    done = lab.run([ext4, part])
    assert done.returncode != 0 and done.stdout == ""
    line = _one_line(done.stderr)
    assert "no unused local NVMe drives" in line and "left alone" in line, line
    assert f"{ext4} (ext4)" in line, line
    assert f"{part} (partitioned)" in line or f"{part} (dos partition table)" in line, line
    # Untouched: same bytes, same file system; nothing written, nothing mounted.
    assert {d: _digest(d) for d in (ext4, part)} == before
    assert _probe(ext4, "UUID") == uuid
    assert not lab.fstab.exists() and not lab.conf.exists() and not lab.mounted()
    assert lab.arrays() == []


def test_builds_a_raid0_with_xfs_and_a_rerun_changes_nothing(raid_lab: Lab) -> None:
    lab = raid_lab
    drives = [lab.disk() for _ in range(4)]
    first = lab.run(drives)
    assert first.returncode == 0, first.stderr
    assert first.stderr == ""
    line = _one_line(first.stdout)
    assert line == f"gpuform: {lab.md} (RAID-0 from 4 drive(s), XFS) mounted at {lab.mount}"
    found = _run("findmnt", "-n", "-o", "SOURCE,FSTYPE", str(lab.mount)).stdout.split()
    assert found == [lab.md, "xfs"]
    detail = _run("mdadm", "--detail", "--export", lab.md).stdout
    assert "MD_LEVEL=raid0" in detail and "MD_DEVICES=4" in detail, detail
    uuid = _probe(lab.md, "UUID")
    fstab, conf = lab.fstab.read_text(), lab.conf.read_text()
    assert fstab == f"UUID={uuid} {lab.mount} xfs defaults,nofail,noatime,discard 0 2\n"
    assert conf.count("ARRAY ") == 1 and "gpuform" in conf, conf

    # Mounted: nothing to do.
    second = lab.run(drives)
    assert second.returncode == 0 and second.stderr == ""
    assert _one_line(second.stdout) == f"gpuform: {lab.mount} already mounted"
    # Unmounted (the array still up), then stopped (a reboot that did not assemble it): the
    # same file system comes back each time, never a new one, and no line is added.
    for undo in ("umount", "stop"):
        lab.unmount()
        if undo == "stop":
            for md in lab.arrays():
                assert _run("mdadm", "--stop", md).returncode == 0
        again = lab.run(drives)
        assert again.returncode == 0, (undo, again.stderr)
        assert lab.mounted(), undo
        (array,) = lab.arrays()
        assert _probe(array, "UUID") == uuid, undo
        assert (lab.fstab.read_text(), lab.conf.read_text()) == (fstab, conf), undo


def test_stripes_the_unused_drives_and_leaves_a_foreign_one_alone(raid_lab: Lab) -> None:
    lab = raid_lab
    unused = [lab.disk() for _ in range(3)]
    ext4 = lab.disk(fs="ext4")
    before = _digest(ext4)
    done = lab.run([*unused, ext4])
    assert done.returncode == 0, done.stderr
    line = _one_line(done.stdout)
    assert "RAID-0 from 3 drive(s)" in line and f"left alone: {ext4} (ext4)" in line, line
    detail = _run("mdadm", "--detail", "--export", lab.md).stdout
    assert "MD_DEVICES=3" in detail, detail
    assert _digest(ext4) == before
    assert _holders(ext4) == []


RAID_TESTS = (
    test_builds_a_raid0_with_xfs_and_a_rerun_changes_nothing,
    test_stripes_the_unused_drives_and_leaves_a_foreign_one_alone,
)


@pytest.mark.parametrize("test", RAID_TESTS, ids=lambda t: t.__name__)
def test_raid_tests_in_user_mode_linux(test: Callable[[Lab], None]) -> None:
    """The RAID tests above, run in a User-mode Linux guest where the host kernel has no md."""
    if os.environ.get(uml.IN_UML):
        pytest.skip("already inside User-mode Linux")
    if not (host := _cannot_raid()):
        pytest.skip("the host kernel builds md RAID-0 with XFS itself: the tests above ran on it")
    try:
        run = uml.run_pytest([f"{Path(__file__).relative_to(uml.REPO)}::{test.__name__}"])
    except uml.UmlUnavailable as e:
        pytest.skip(f"{host}; and {e}")
    assert run.returncode == 0 and "1 passed" in run.output, run.report()
