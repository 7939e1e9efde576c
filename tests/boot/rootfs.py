"""The Debian root filesystem nodes boot from: built once with debootstrap, cached by content.

The cache lives outside the repository under /var/cache/gpuform/boot/<key>, where <key> hashes
everything that shapes the tree (suite, mirror, package list, the harness's own config files).
A build happens in a temporary sibling directory and is renamed into place only when complete,
so an interrupted build never leaves a half rootfs behind; a file lock keeps two builders from
racing. Boots never write here: each one mounts an overlay on top of this tree.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

CACHE_ROOT = Path(os.environ.get("GPUFORM_BOOT_CACHE", "/var/cache/gpuform/boot"))
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
VARIANT = "minbase"
BUILD_TIMEOUT_S = 20 * 60

#: What the bootstrap expects on an apt-based GPU image, plus what cloud-init needs to run
#: every stage cleanly. Changing this list changes the cache key and so rebuilds the rootfs.
PACKAGES: tuple[str, ...] = (
    "systemd",
    "systemd-sysv",  # /sbin/init, so `systemd-nspawn -b` boots systemd as PID 1
    "dbus",
    "cloud-init",
    # debootstrap does not resolve virtual packages: cloud-init -> python3-cryptography needs
    # python3-cffi-backend-api-*, which only python3-cffi-backend provides.
    "python3-cffi-backend",
    "python3",
    "locales",  # cloud-init's locale module fails without locale-gen / update-locale
    "openssh-server",  # cloud-init's ssh modules and the node's sshd
    "curl",
    "ca-certificates",
    "jq",
    "iproute2",
    "netbase",
    "procps",
    "mdadm",
    "xfsprogs",
    "gnupg",  # adding a third-party apt repository (the container runtime) needs gpg
    "lsb-release",
    # The host firewall of Canonical's Ubuntu images on OCI: iptables rules that
    # netfilter-persistent loads at boot from /etc/iptables/rules.v4 (see CANONICAL_RULES_V4).
    "iptables",
    "netfilter-persistent",
    "iptables-persistent",
)

#: The inbound posture of OCI's platform images: established traffic, ICMP, loopback, NTP
#: replies and SSH, and every other inbound packet rejected, as in the rules.v4 of Canonical's
#: Ubuntu images (Oracle Linux's firewalld admits the same). Their egress chain for
#: 169.254.0.0/16 (InstanceServices) is left out: the IMDS stand-in answers on the node's own
#: loopback, where that chain would reject its replies.
CANONICAL_RULES_V4 = """\
# gpuform boot harness: the inbound firewall OCI's Canonical Ubuntu images boot with.
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p icmp -j ACCEPT
-A INPUT -i lo -j ACCEPT
-A INPUT -p udp -m udp --sport 123 -j ACCEPT
-A INPUT -p tcp -m state --state NEW -m tcp --dport 22 -j ACCEPT
-A INPUT -j REJECT --reject-with icmp-host-prohibited
-A FORWARD -j REJECT --reject-with icmp-host-prohibited
COMMIT
"""

#: Python packages from PyPI, installed by the host's pip into the tree's site-packages (the
#: host's CPython and Debian bookworm's are both 3.11, so the same wheels load). Ray lets the
#: harness run each node's Ray step script with real Ray processes across the containers; on a
#: real node Ray comes from the engine's image instead.
PIP_PACKAGES: tuple[str, ...] = ("ray[client]==2.60.0",)
PIP_TARGET = "usr/local/lib/python3.11/dist-packages"

#: Files the harness adds to the tree, path -> content. They are part of the cache key.
HARNESS_FILES: dict[str, str] = {
    # NoCloud reads the seed the harness writes; `None` keeps cloud-init from searching further.
    # Network config is disabled: the harness configures the container's namespace itself.
    "etc/cloud/cloud.cfg.d/90-gpuform-boot.cfg": (
        "# gpuform boot harness: read the NoCloud seed, leave networking to the harness.\n"
        "datasource_list: [NoCloud, None]\n"
        "network: {config: disabled}\n"
    ),
    # Name resolution goes to loopback inside the container's private namespace, where nothing
    # listens: lookups fail at once ("Temporary failure resolving") and no query leaves.
    "etc/resolv.conf": "# gpuform boot harness: no resolver; nothing leaves the namespace.\n"
    "nameserver 127.0.0.1\n",
    # Empty: systemd makes a fresh machine id at each boot, so copies never share one.
    "etc/machine-id": "",
    # cloud-init's locale module sets LANG=en_US.UTF-8, which Debian's update-locale rejects
    # unless it was generated; cloud images ship it generated, so the rootfs does too.
    "etc/locale.gen": "en_US.UTF-8 UTF-8\n",
    # The image's firewall, loaded at boot by netfilter-persistent.service; what gpuform's
    # firewall step adds and saves lands in this same file.
    "etc/iptables/rules.v4": CANONICAL_RULES_V4,
    "etc/iptables/rules.v6": (
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
    ),
    # pip --target leaves console scripts pointing at the host's Python; the tree's own `ray`.
    "usr/local/bin/ray": (
        "#!/usr/bin/python3\nimport sys\n\nfrom ray.scripts.scripts import main\n\n"
        "sys.exit(main())\n"
    ),
}

#: Commands run inside the finished tree (chroot), after HARNESS_FILES are in place.
CHROOT_COMMANDS: tuple[tuple[str, ...], ...] = (
    ("locale-gen",),
    ("chmod", "0755", "/usr/local/bin/ray"),
)

#: Units masked in the tree: they prompt on the console or do periodic work a short boot
#: does not need, and would only add noise to the journal the harness reports.
MASKED_UNITS: tuple[str, ...] = (
    "systemd-firstboot.service",
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "e2scrub_all.timer",
    "fstrim.timer",
    "dpkg-db-backup.timer",
)


@dataclass(frozen=True)
class Rootfs:
    """A complete cached rootfs."""

    path: Path
    key: str
    build_seconds: float | None
    """How long it took to build; None when it was already cached before this process."""


def cache_key() -> str:
    """A short hash of everything that decides the contents of the tree."""
    recipe = {
        "suite": SUITE,
        "mirror": MIRROR,
        "variant": VARIANT,
        "packages": sorted(PACKAGES),
        "files": HARNESS_FILES,
        "masked": sorted(MASKED_UNITS),
        "chroot": [list(c) for c in CHROOT_COMMANDS],
        "pip": sorted(PIP_PACKAGES),
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def ensure_rootfs(
    cache_root: Path = CACHE_ROOT, announce: Callable[[str], None] | None = None
) -> Rootfs:
    """The cached rootfs for the current recipe, building it first if it is missing.

    `announce` hears one line before a build starts, so a person knows why nothing moves.
    """
    key = cache_key()
    final = cache_root / key
    if final.is_dir():
        return Rootfs(final, key, None)
    cache_root.mkdir(parents=True, exist_ok=True)
    with _locked(cache_root / ".lock"):
        if final.is_dir():  # another process built it while we waited for the lock
            return Rootfs(final, key, None)
        _remove_stale_builds(cache_root)
        if announce is not None:
            announce(
                f"building the boot rootfs with debootstrap (Debian {SUITE}, about 2 minutes "
                f"once; cached in {final})"
            )
        started = time.monotonic()
        tmp = cache_root / f".build-{key}-{os.getpid()}"
        try:
            _debootstrap(tmp)
            _pip_install(tmp)
            _customize(tmp)
            (tmp / ".gpuform-rootfs.json").write_text(
                json.dumps({"key": key, "packages": sorted(PACKAGES), "built": time.time()})
            )
            os.rename(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return Rootfs(final, key, time.monotonic() - started)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _remove_stale_builds(cache_root: Path) -> None:
    # Called under the lock: any .build-* left is from a builder that died mid-way.
    for stale in cache_root.glob(".build-*"):
        shutil.rmtree(stale, ignore_errors=True)


def _debootstrap(target: Path) -> None:
    log = target.with_name(target.name + ".log")
    cmd = [
        "debootstrap",
        f"--variant={VARIANT}",
        f"--include={','.join(PACKAGES)}",
        SUITE,
        str(target),
        MIRROR,
    ]
    with log.open("w") as out:
        proc = subprocess.run(
            cmd, stdout=out, stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT_S, check=False
        )
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-15:]
        inner = target / "debootstrap" / "debootstrap.log"
        if inner.is_file():
            tail += [
                "--- debootstrap.log ---",
                *inner.read_text(errors="replace").splitlines()[-25:],
            ]
        raise RuntimeError(
            f"debootstrap of the boot rootfs failed (exit {proc.returncode}):\n" + "\n".join(tail)
        )
    log.unlink(missing_ok=True)


def _pip_install(root: Path) -> None:
    cmd = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--no-compile", "--only-binary=:all:", "--target", str(root / PIP_TARGET), *PIP_PACKAGES,
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False)
    if proc.returncode != 0:
        raise RuntimeError(
            f"pip install of {PIP_PACKAGES} into the rootfs failed: {proc.stderr[-2000:]}"
        )


def _customize(root: Path) -> None:
    for rel, content in HARNESS_FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():  # e.g. resolv.conf may be a link into /run
            path.unlink()
        path.write_text(content)
    units = root / "etc/systemd/system"
    for unit in MASKED_UNITS:
        link = units / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")
        for wants in units.glob(f"*.wants/{unit}"):
            wants.unlink()
    for cmd in CHROOT_COMMANDS:
        proc = subprocess.run(
            ["chroot", str(root), *cmd], capture_output=True, text=True, timeout=300, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(f"chroot {' '.join(cmd)} failed: {proc.stderr.strip()[-2000:]}")
    # Downloaded .debs are not needed to boot and would double the tree's size.
    for deb in (root / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()
