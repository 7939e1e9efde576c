"""Does the stack's OpenAI-compatible endpoint answer? GET <endpoint_url>/models."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass

#: The API key, if the user has it; never read from anywhere else (OPENAI_API_KEY may be a
#: real OpenAI key, which must not go to this endpoint).
API_KEY_ENV = "GPUFORM_API_KEY"
TIMEOUT_S = 5


@dataclass(frozen=True)
class EndpointState:
    """Whether `url` answered, and what it said."""

    url: str
    ok: bool
    detail: str


def check(base_url: str, timeout_s: float = TIMEOUT_S) -> EndpointState:
    """GET /models; 200 is up, and so is 401/403 (the engine answers, it wants the API key)."""
    url = base_url.rstrip("/") + "/models"
    try:
        request = urllib.request.Request(url)
        key = os.environ.get(API_KEY_ENV)
        if key:
            request.add_header("Authorization", f"Bearer {key}")
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            body = response.read(1 << 20)
    except urllib.error.HTTPError as err:
        if err.code in (401, 403):
            return EndpointState(url, True, f"answers {err.code}; set {API_KEY_ENV} to list models")
        return EndpointState(url, False, f"answers {err.code} {err.reason}")
    except ValueError as err:  # a URL urllib cannot use (the inventory checks it first)
        return EndpointState(url, False, f"not a URL: {err}")
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        return EndpointState(url, False, f"no answer: {reason}")
    return EndpointState(url, True, f"answers 200: {_models(body)}")


def _models(body: bytes) -> str:
    try:
        data = json.loads(body)["data"]
        ids = [str(m["id"]) for m in data]
    except (ValueError, KeyError, TypeError):
        return "(not an OpenAI model list)"
    return ", ".join(ids) if ids else "(no models listed)"
