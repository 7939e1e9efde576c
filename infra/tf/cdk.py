"""The one module that imports cdktf.

cdktf was archived upstream in December 2025. Everything gpuform needs from it (App, stacks,
outputs, variables, backends, generic resources) passes through here, so replacing it with a
plain JSON writer later touches this file alone. The product is plain Terraform JSON.
"""

from __future__ import annotations

import os
from typing import Any

# jsii prints a multi-line end-of-life banner on Node 20 at import; users should see none of it.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_DEPRECATED", "quiet")

from cdktf import (
    App,
    LocalBackend,
    TerraformDataSource,
    TerraformOutput,
    TerraformProvider,
    TerraformResource,
    TerraformStack,
    TerraformVariable,
    Token,
)
from constructs import Construct

__all__ = [
    "App",
    "Construct",
    "GenericDataSource",
    "GenericProvider",
    "GenericResource",
    "LocalBackend",
    "TerraformOutput",
    "TerraformStack",
    "TerraformVariable",
    "new_app",
    "operand",
]


def operand(value: str) -> str:
    """`value` as an operand inside a "${...}" expression: a reference (a cdktf token, which
    resolves bare there) as is, a plain string as a quoted literal."""
    if Token.is_unresolved(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def new_app(outdir: str) -> App:
    """An App writing to `outdir`, without cdktf's on-disk validation pass."""
    return App(outdir=outdir, skip_validation=True)


def _readable_id(target: Any) -> None:
    # cdktf appends a hash to keep logical ids unique; our construct paths are already unique
    # within a stack, so `oci_core_instance.cluster_nodes_node_0` is what reviewers read and
    # what `terraform state` commands take.
    path = str(target.node.path).split("/")[1:]
    target.override_logical_id("_".join(path).replace("-", "_"))


def _apply(target: Any, args: dict[str, Any]) -> None:
    # add_override is cdktf's own escape hatch for untyped arguments; our typed layer above
    # guarantees the names, and the schema check guarantees them against the provider.
    for key, value in args.items():
        target.add_override(key, value)


class GenericResource(TerraformResource):
    """A resource of any type, its arguments set from a plain dict."""

    def __init__(self, scope: Construct, id: str, tf_type: str, args: dict[str, Any]) -> None:
        super().__init__(scope, id, terraform_resource_type=tf_type)
        _readable_id(self)
        _apply(self, args)


class GenericDataSource(TerraformDataSource):
    """A data source of any type, its arguments set from a plain dict."""

    def __init__(self, scope: Construct, id: str, tf_type: str, args: dict[str, Any]) -> None:
        super().__init__(scope, id, terraform_resource_type=tf_type)
        _readable_id(self)
        _apply(self, args)


class GenericProvider(TerraformProvider):
    """A provider block plus its required_providers entry; `alias` makes a second
    configuration of the same provider (another region), which resources name to use it."""

    def __init__(
        self,
        scope: Construct,
        name: str,
        source: str,
        version: str,
        args: dict[str, Any],
        alias: str | None = None,
    ) -> None:
        super().__init__(
            scope,
            name if alias is None else f"{name}_{alias}",
            terraform_resource_type=name,
            terraform_provider_source=source,
        )
        # cdktf's own `alias` property does not reach the JSON for a provider built like this
        # one; the override writes the same `alias` argument Terraform reads.
        _apply(self, args if alias is None else {**args, "alias": alias})
        self.reference = name if alias is None else f"{name}.{alias}"
        """How a resource names this configuration in its `provider` argument."""
        TerraformStack.of(scope).add_override(
            f"terraform.required_providers.{name}.version", version
        )
