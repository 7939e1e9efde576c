"""The journal of a node's gpuform units, as one shell command."""

from __future__ import annotations

UNITS = ("gpuform-*", "gpuform.target")


def journal_command(*, lines: int, follow: bool) -> str:
    """journalctl over the gpuform units of this boot; `sudo -n` when not root and allowed."""
    units = " ".join(f"-u '{u}'" for u in UNITS)
    follow_flag = " -f" if follow else ""
    return (
        'S=; if [ "$(id -u)" != 0 ] && sudo -n true 2>/dev/null; then S="sudo -n"; fi; '
        # The stream runs on a PTY (so closing it stops -f); colours would follow into pipes.
        f"exec $S env SYSTEMD_COLORS=0 journalctl {units} -b --no-pager -o short-iso "
        f"-n {int(lines)}{follow_flag}"
    )
