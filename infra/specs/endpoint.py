"""How clients reach the model: the public port and where the API key lives."""

from __future__ import annotations

from pydantic import Field

from .base import Spec


class Endpoint(Spec):
    """The OpenAI-compatible endpoint in front of the engine.

    The API key lives in an OCI Vault secret whose OCID is the Terraform variable
    `api_key_secret_ocid`; nodes read it at boot by instance principal, so it never appears in
    user-data or Terraform state.
    """

    port: int = Field(default=8000, ge=1, le=65535, description="Public listener port (HTTP).")
    require_api_key: bool = True
