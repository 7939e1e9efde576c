"""Spec values the tests build over and over, made in one place.

`deployment("name")` is the deployment nearly every test stack uses: us-ashburn-1, SSH and the
API open to TEST-NET-2 (198.51.100.0/24, RFC 5737: documentation only, routes nowhere). A test
that cares about a field passes it; the rest stay the defaults here and in `Deployment`.
"""

from __future__ import annotations

from typing import Any

from infra.specs import Deployment

TEST_NET = "198.51.100.0/24"
"""RFC 5737 TEST-NET-2: a range for documentation, never a real client."""


def deployment(name: str, **fields: Any) -> Deployment:
    """A valid `Deployment` named `name`; `fields` override or add to the defaults."""
    base: dict[str, Any] = {
        "name": name,
        "region": "us-ashburn-1",
        "ssh_allowed_cidrs": [TEST_NET],
        "api_allowed_cidrs": [TEST_NET],
    }
    return Deployment(**(base | fields))


LLAMA_1B_CONFIG: dict[str, object] = {
    "model_type": "llama",
    "num_hidden_layers": 16,
    "hidden_size": 2048,
    "intermediate_size": 8192,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
    "max_position_embeddings": 131072,
}
"""A small Llama config.json, for `gpuform plan --config`: a model outside the catalog."""
