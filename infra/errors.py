"""The one user-error type, and the one formatter that turns any of them into a line."""

from __future__ import annotations


class UserError(ValueError):
    """Bad input or an impossible plan: str() is the one line the user sees.

    `field` and `value` name what the user wrote, where one thing is at fault; the message
    then reads `field = value: fix`.
    """

    def __init__(self, message: str, *, field: str | None = None, value: object = None) -> None:
        super().__init__(message)
        self.field = field
        self.value = value

    @classmethod
    def at(cls, field: str, value: object, fix: str) -> UserError:
        """`field = value: fix`, with field and value kept for callers that relabel."""
        return cls(f"{field} = {value!r}: {fix}", field=field, value=value)

    def within(self, where: str) -> UserError:
        """The same error, prefixed with where it happened (a file, a stack)."""
        return UserError(f"{where}: {self}", field=self.field, value=self.value)


def format_error(err: UserError) -> str:
    """The line printed on stderr for `err`."""
    return f"gpuform: {err}"
