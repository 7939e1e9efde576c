"""Where templates live: inside the wheel (infra/_data) or at the top of a checkout."""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent.parent


def _data_dir(name: str) -> Path:
    installed = _PKG / "_data" / name
    if installed.is_dir():
        return installed
    checkout = _PKG.parent / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        f"gpuform's {name}/ directory is missing from {installed} and {checkout}"
    )


def templates_dir() -> Path:
    """Scripts and systemd units that nodes run."""
    return _data_dir("templates")


def cloud_init_dir() -> Path:
    """cloud-config templates."""
    return _data_dir("cloud-init")
