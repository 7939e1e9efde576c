"""The remote side of one command: it dies with the SSH channel that started it.

Without a PTY, sshd leaves a command running when its channel or connection goes away: Ctrl-C
on `gpuform exec -- sleep 777` (or a --timeout, or a dropped link) left `sleep` running on
every node. A PTY would fix that (the hang-up reaches the command) but merges stderr into
stdout and makes programs think a person is typing. Instead the command runs in a session of
its own, and a watcher holds the channel's stdin: sshd closes that pipe when the channel or
the connection ends, and the watcher then stops the command's whole process group (TERM,
then KILL after a grace period). The command itself reads /dev/null, as `ssh host CMD </dev/null`.

The wrapper is POSIX sh (dash on Ubuntu, bash on Oracle Linux): dash's own `kill` takes no
negative process group, so the group is signalled by procps' or util-linux' kill (`env kill`).
The user's command still runs in their login shell ($SHELL), as with plain ssh.
"""

from __future__ import annotations

import shlex

#: Seconds between TERM and KILL once the channel is gone.
GRACE_S = 5

WRAPPER = """\
exec 3<&0 0</dev/null
setsid "${{SHELL:-/bin/sh}}" -c "$1" 3<&- &
pid=$!
(cat <&3 >/dev/null 2>&1
 env kill -s TERM -- "-$pid" 2>/dev/null && sleep {grace} && env kill -s KILL -- "-$pid"
) >/dev/null 2>&1 &
watcher=$!
exec 3<&-
wait "$pid"
status=$?
kill "$watcher" 2>/dev/null
exit "$status"
"""


def script() -> str:
    """The wrapper alone (shellcheck reads it as a file)."""
    return WRAPPER.format(grace=GRACE_S)


def stoppable(command: str) -> str:
    """`command` wrapped so that it stops when its channel closes; `$SHELL -c` parses it."""
    # `exec /bin/sh -c '...' name arg` reads the same in bash, zsh and fish: login shells vary.
    return f"exec /bin/sh -c {shlex.quote(script())} gpuform-exec {shlex.quote(command)}"
