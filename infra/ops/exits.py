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
    (OK, "done: every node ran the command and exited 0, the stack is ready, the status or "
         "journal was printed, the ssh config written"),
    (FAILED, "the stack is not as asked, and may heal or be retried: a node's command "
             "failed, timed out or could not be reached, a bastion or node is unreachable, "
             "`wait` timed out or a step failed for good (the report says what)"),
    (BAD_INPUT, "only you can fix it, so nothing waits or retries: a bad argument or stack "
                "name, another stack's `--inventory`, no or broken Terraform outputs, "
                "`terraform` missing or hanging, a key the bastion or a node refuses, a changed "
                "host key"),
    (INTERRUPTED, "interrupted (Ctrl-C); the remote commands stopped with it"),
)  # fmt: skip


def markdown() -> str:
    """The table as the docs show it."""
    rows = [f"| {code} | {meaning} |" for code, meaning in TABLE]
    return "\n".join(["| code | meaning |", "|------|---------|", *rows]) + "\n"
