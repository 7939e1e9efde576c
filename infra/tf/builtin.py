"""Terraform's own resources (the built-in provider terraform.io/builtin/terraform)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .resources import Args, Resource


@dataclass(frozen=True)
class TerraformDataArgs(Args):
    input: str | Sequence[str] | None = None


class TerraformData(Resource[TerraformDataArgs]):
    """A value kept in state (developer.hashicorp.com/terraform/language/resources/
    terraform-data): with `input` in ignore_changes, `output` stays what it was on create."""

    tf_type = "terraform_data"

    @property
    def output(self) -> str:
        return self.attr("output")
