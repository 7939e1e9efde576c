"""Where ops keep per-stack state: known_hosts, the generated ssh config."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """gpuform's own folder: $GPUFORM_HOME, else ~/.gpuform."""
    return Path(os.environ.get("GPUFORM_HOME") or Path.home() / ".gpuform")


def stack_dir(stack: str) -> Path:
    """The stack's folder under home(): host keys and the ssh config `gpuform ssh` uses."""
    return home() / stack


def known_hosts(stack: str) -> Path:
    """The stack's own known_hosts: nodes are replaced with new keys; keep them apart."""
    return stack_dir(stack) / "known_hosts"


def ssh_config_dir() -> Path:
    """Where `gpuform ssh-config` writes `<stack>.conf`, for ~/.ssh/config to Include."""
    return Path(os.environ.get("GPUFORM_SSH_CONFIG_DIR") or Path.home() / ".ssh" / "gpuform")
