"""The error type the CLI turns into one line and exit code 2."""


class UserError(Exception):
    """Bad input or an impossible plan: str() is the one line the user sees."""
