"""One construct alone in a bare stack, synthesized and schema-checked: for construct tests."""

from __future__ import annotations

import base64
import io
import json
import tarfile
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


def uploaded_files(doc: dict[str, Any], metadata: dict[str, str]) -> dict[str, str]:
    """Every file of the bundles a node's metadata names (gpuform_bundle_urls), read from the
    objects Terraform uploads: path -> content."""
    objects = doc["resource"]["oci_objectstorage_object"]
    pars = doc["resource"]["oci_objectstorage_preauthrequest"]
    files: dict[str, str] = {}
    for url in metadata["gpuform_bundle_urls"].split(" "):
        par = url.split("${oci_objectstorage_preauthrequest.", 1)[1].split(".", 1)[0]
        obj = pars[par]["object_name"].removeprefix("${oci_objectstorage_object.")
        content = objects[obj.split(".", 1)[0]]["content"]
        with tarfile.open(fileobj=io.BytesIO(base64.b64decode(content)), mode="r:gz") as tar:
            for m in tar.getmembers():
                fh = tar.extractfile(m)
                assert fh is not None
                files["/" + m.name] = fh.read().decode()
    return files
