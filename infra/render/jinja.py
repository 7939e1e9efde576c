"""The Jinja2 environment: strict about undefined names, with gpuform's quoting filters."""

from __future__ import annotations

from functools import cache

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from ..engines.args import shell_word, shell_words
from .paths import cloud_init_dir, templates_dir


@cache
def environment() -> Environment:
    """One shared environment over templates/ and cloud-init/.

    StrictUndefined turns a misspelt or missing variable into an error instead of an empty
    string in a boot script; keep_trailing_newline keeps files byte-exact. Jinja comments are
    `{## ... ##}` because bash's `${#array[@]}` would open a default `{#` comment.
    """
    env = Environment(
        loader=FileSystemLoader([str(templates_dir()), str(cloud_init_dir())]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        comment_start_string="{##",
        comment_end_string="##}",
    )
    env.filters["sh"] = shell_word
    env.filters["sh_words"] = shell_words
    return env
