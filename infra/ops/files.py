"""Files the user names on the command line (--inventory, --identity, --known-hosts).

Read whole, each must be a regular file of a sane size: /dev/zero would be read forever, a FIFO
would block until someone writes to it, and neither is an answer worth a hang.
"""

from __future__ import annotations

import stat
from pathlib import Path

from ..errors import UserError


def check_regular(path: Path, option: str, max_bytes: int, *, must_exist: bool = True) -> None:
    """UserError unless `path` is a regular file of at most `max_bytes` (or absent, if allowed)."""
    try:
        st = path.stat()
    except FileNotFoundError as err:
        if must_exist:
            raise UserError.at(option, str(path), err.strerror or "no such file") from None
        return
    except OSError as err:
        raise UserError.at(option, str(path), err.strerror or str(err)) from None
    if not stat.S_ISREG(st.st_mode):
        raise UserError.at(option, str(path), "not a regular file (a device, FIFO or folder)")
    if st.st_size > max_bytes:
        raise UserError.at(
            option, str(path), f"{st.st_size:,} bytes; expected at most {max_bytes:,}"
        )
