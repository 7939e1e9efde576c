"""One exit-code table for every day-2 command; the README and docs/operations.md print it.

Whatever the command, the same cause gives the same code: a changed host key is 2 in exec,
status, logs and wait alike, because only the user can fix it; waiting or retrying cannot.
"""

from __future__ import annotations

OK = 0
FAILED = 1
BAD_INPUT = 2
INTERRUPTED = 130

#: (code, meaning), in the order the docs show them.
TABLE: tuple[tuple[int, str], ...] = (
    (OK, "done: `exec`'s command exited 0 on every node, `wait` found the stack ready, "
         "`status` printed its table (whatever the nodes' state), `logs` printed the journal, "
         "`ssh-config` wrote the file"),
    (FAILED, "the stack is not as asked, and may heal or be retried: a node's command "
             "failed, timed out or could not be reached, the bastion does not answer, `wait` "
             "timed out or a step failed for good (the report says what)"),
    (BAD_INPUT, "only you can fix it, so nothing waits or retries: a bad argument or stack "
                "name, another stack's `--inventory`, no or broken Terraform outputs, "
                "`terraform` missing or hanging, a key the bastion or a node refuses, a changed "
                "host key (`status` prints its table first)"),
    (INTERRUPTED, "interrupted (Ctrl-C); the commands `exec` and `logs --follow` started on "
                  "the nodes stop with it"),
)  # fmt: skip


#: `gpuform ssh` hands the terminal to the system ssh, whose status it returns.
SSH_NOTE = (
    "`gpuform ssh` ends with the remote shell's exit status, or ssh's own 255 when ssh cannot "
    "connect (a changed host key, a refused key, a host that does not answer within 20 s); "
    "Ctrl-C while it connects is 130."
)


def markdown() -> str:
    """The table as the docs show it."""
    rows = [f"| {code} | {meaning} |" for code, meaning in TABLE]
    return "\n".join(["| code | meaning |", "|------|---------|", *rows, "", SSH_NOTE]) + "\n"
