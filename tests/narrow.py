"""One construct alone in a bare stack, synthesized and schema-checked: for construct tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from infra.tf import oci
from infra.tf.cdk import Construct, GenericProvider, TerraformStack, new_app
from infra.tf.schema import check_terraform_json


def synth_construct(tmp_path: Path, build: Callable[[Construct], object]) -> dict[str, Any]:
    """The Terraform JSON of a stack holding only what `build` adds; it must pass the schema."""
    app = new_app(str(tmp_path))
    stack = TerraformStack(app, "narrow")
    GenericProvider(stack, "oci", oci.PROVIDER_SOURCE, oci.PROVIDER_VERSION, {"region": "r"})
    build(stack)
    app.synth()
    doc: dict[str, Any] = json.loads(next(tmp_path.rglob("cdk.tf.json")).read_text())
    assert check_terraform_json(doc) == []
    return doc
