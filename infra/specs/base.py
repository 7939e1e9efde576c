"""The base model every spec derives from."""

from pydantic import BaseModel, ConfigDict


class Spec(BaseModel):
    """Frozen and strict about unknown fields, so a typo is an error, not a silent default."""

    model_config = ConfigDict(frozen=True, extra="forbid")
