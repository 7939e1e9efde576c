"""The stand-in oracle/oci provider: a tfplugin6 gRPC server Terraform starts as a plugin.

The handshake and transport are go-plugin's (as the `tf` package's runner does them: a unix
socket, TLS with a self-signed certificate announced on stdout); the servicer is our own,
driven by the derived schema, with terraform-plugin-sdk v2's planning rules:

- create: a computed attribute the configuration leaves null is unknown in the plan (or its
  schema default, from behaviour.json);
- update: Terraform's proposed new state already keeps prior values of such attributes; the
  plan lists in RequiresReplace every changed attribute that behaviour.json marks ForceNew
  (Terraform then plans the create half again with a null prior state);
- apply fills unknowns (fillers.py) and stores the object in the on-disk tenancy (store.py);
- read returns what is stored, with behaviour.json's read_back quirks applied.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable
from concurrent import futures
from pathlib import Path
from typing import Any, TypeVar

import grpc
from tf.gen import grpc_controller_pb2 as controller_pb
from tf.gen import grpc_controller_pb2_grpc as controller_rpc
from tf.gen import grpc_stdio_pb2_grpc as stdio_rpc
from tf.gen import tfplugin_pb2 as pb
from tf.gen import tfplugin_pb2_grpc as rpc

from . import behaviour, fillers, readers, world
from .schema import Attribute, Block, NestedBlock, ProviderSchema, TypeSchema, load
from .store import tenancy
from .values import (
    UNKNOWN,
    changed_paths,
    conform_block,
    decode,
    encode,
    get_path,
    map_attributes,
    set_path,
    without_unknowns,
)

CERT_FILE, KEY_FILE = "standin-cert.pem", "standin-key.pem"
_NESTING = {"list": pb.Schema.NestedBlock.LIST, "single": pb.Schema.NestedBlock.SINGLE}


def _attribute_pb(a: Attribute) -> pb.Schema.Attribute:
    return pb.Schema.Attribute(
        name=a.name,
        type=json.dumps(a.type).encode(),
        required=a.required,
        optional=a.optional,
        computed=a.computed,
    )


def _block_pb(block: Block) -> pb.Schema.Block:
    return pb.Schema.Block(
        attributes=[_attribute_pb(a) for a in block.attributes.values()],
        block_types=[_nested_pb(b) for b in block.block_types.values()],
    )


def _nested_pb(b: NestedBlock) -> pb.Schema.NestedBlock:
    return pb.Schema.NestedBlock(
        type_name=b.name,
        block=_block_pb(b.block),
        nesting=_NESTING[b.nesting],
        min_items=b.min_items,
        max_items=b.max_items,
    )


def _error(summary: str, detail: str = "") -> pb.Diagnostic:
    return pb.Diagnostic(severity=pb.Diagnostic.ERROR, summary=summary, detail=detail)


def _path_pb(steps: tuple[str | int, ...]) -> pb.AttributePath:
    out = []
    for step in steps:
        if isinstance(step, int):
            out.append(pb.AttributePath.Step(element_key_int=step))
        else:
            out.append(pb.AttributePath.Step(attribute_name=step))
    return pb.AttributePath(steps=out)


def _dv(value: Any) -> pb.DynamicValue:
    return pb.DynamicValue(msgpack=encode(value))


def _value(dv: pb.DynamicValue) -> Any:
    if dv.json:
        return json.loads(dv.json)
    return decode(dv.msgpack)


R = TypeVar("R")


def _guarded(response: Callable[..., R]) -> Callable[[Callable[..., R]], Callable[..., R]]:
    """A handler whose unexpected exception becomes an error diagnostic naming the stand-in,
    not a dropped gRPC call (which Terraform reports as a plugin crash)."""

    def wrap(handler: Callable[..., R]) -> Callable[..., R]:
        def run(self: Any, request: Any, context: Any) -> R:
            try:
                return handler(self, request, context)
            except readers.ReadError as err:
                return response(diagnostics=[_error(str(err))])
            except Exception:
                return response(
                    diagnostics=[_error("stand-in OCI provider failed", traceback.format_exc())]
                )

        return run

    return wrap


class StandInProvider(rpc.ProviderServicer):  # type: ignore[misc]
    def __init__(self, schema: ProviderSchema) -> None:
        self.schema = schema
        self.region = world.DEFAULT_REGION
        self.stopped = threading.Event()

    # -- schema and configuration ------------------------------------------------------------

    def GetProviderSchema(self, request: Any, context: Any) -> Any:
        return pb.GetProviderSchema.Response(
            provider=pb.Schema(block=_block_pb(self.schema.provider)),
            resource_schemas={
                n: pb.Schema(block=_block_pb(t.block)) for n, t in self.schema.resources.items()
            },
            data_source_schemas={
                n: pb.Schema(block=_block_pb(t.block)) for n, t in self.schema.data_sources.items()
            },
            server_capabilities=pb.ServerCapabilities(plan_destroy=False),
        )

    def ValidateProviderConfig(self, request: Any, context: Any) -> Any:
        return pb.ValidateProviderConfig.Response()

    def ValidateResourceConfig(self, request: Any, context: Any) -> Any:
        return pb.ValidateResourceConfig.Response()

    def ValidateDataResourceConfig(self, request: Any, context: Any) -> Any:
        return pb.ValidateDataResourceConfig.Response()

    def ConfigureProvider(self, request: Any, context: Any) -> Any:
        config = _value(request.config) or {}
        region = config.get("region")
        if isinstance(region, str) and region:
            self.region = region
        return pb.ConfigureProvider.Response()

    def StopProvider(self, request: Any, context: Any) -> Any:
        self.stopped.set()
        return pb.StopProvider.Response()

    # -- managed resources -------------------------------------------------------------------

    def _resource(self, name: str) -> TypeSchema:
        return self.schema.resources[name]

    @_guarded(pb.UpgradeResourceState.Response)
    def UpgradeResourceState(self, request: Any, context: Any) -> Any:
        t = self._resource(request.type_name)
        raw = json.loads(request.raw_state.json) if request.raw_state.json else {}
        return pb.UpgradeResourceState.Response(upgraded_state=_dv(conform_block(t.block, raw)))

    @_guarded(pb.ReadResource.Response)
    def ReadResource(self, request: Any, context: Any) -> Any:
        t = self._resource(request.type_name)
        current = _value(request.current_state)
        with tenancy() as ten:
            stored = ten.get(current.get("id")) if current else None
        if stored is None:  # gone from the tenancy: Terraform plans to create it again
            return pb.ReadResource.Response(new_state=_dv(None), private=request.private)
        stored = behaviour.apply(t, stored, "read")
        return pb.ReadResource.Response(
            new_state=_dv(conform_block(t.block, stored)), private=request.private
        )

    @_guarded(pb.PlanResourceChange.Response)
    def PlanResourceChange(self, request: Any, context: Any) -> Any:
        t = self._resource(request.type_name)
        prior = _value(request.prior_state)
        proposed = _value(request.proposed_new_state)
        config = _value(request.config)
        if proposed is None:
            return pb.PlanResourceChange.Response(planned_state=_dv(None))
        defaults = t.behaviour.defaults

        def plan(path: str, a: Attribute, value: Any, configured: Any) -> Any:
            if configured is not None:
                return value
            if path in defaults:
                return defaults[path]
            if prior is None and a.computed:
                return UNKNOWN
            return value

        planned = behaviour.apply(t, map_attributes(t.block, proposed, config, plan), "plan")
        replace = []
        if prior is not None:
            for dotted, exact in changed_paths(t.block, prior, planned):
                old, new = get_path(prior, exact), get_path(planned, exact)
                if behaviour.suppressed(t, dotted, old, new):
                    set_path(planned, exact, old)
                elif dotted in t.behaviour.force_new or behaviour.replaces_map(t, dotted, old, new):
                    replace.append(_path_pb(exact))
        # SDKv2 answers with legacy_type_system (helper/schema/grpc_provider.go), so Terraform
        # accepts a planned value that differs from the configuration (a StateFunc's hash).
        return pb.PlanResourceChange.Response(
            planned_state=_dv(planned),
            requires_replace=replace,
            planned_private=b"",
            legacy_type_system=True,
        )

    @_guarded(pb.ApplyResourceChange.Response)
    def ApplyResourceChange(self, request: Any, context: Any) -> Any:
        t = self._resource(request.type_name)
        prior = _value(request.prior_state)
        planned = _value(request.planned_state)
        with tenancy() as ten:
            if planned is None:
                if prior is not None:
                    ten.delete(str(prior.get("id")))
                return pb.ApplyResourceChange.Response(new_state=_dv(None))
            ctx = fillers.Context(t.name, self.region, ten, creating=prior is None)
            filled = fillers.fill(t.block, planned, ctx, lambda v: behaviour.apply(t, v, "apply"))
            new = conform_block(t.block, filled)
            ten.put(str(new["id"]), t.name, new)
            for kind, child in ctx.children:
                ten.put(str(child["id"]), kind, without_unknowns(child), owner=str(new["id"]))
        return pb.ApplyResourceChange.Response(
            new_state=_dv(new), private=b"", legacy_type_system=True
        )

    @_guarded(pb.ImportResourceState.Response)
    def ImportResourceState(self, request: Any, context: Any) -> Any:
        t = self._resource(request.type_name)
        with tenancy() as ten:
            found = ten.get(request.id)
        if found is None:
            return pb.ImportResourceState.Response(
                diagnostics=[_error(f"Cannot import non-existent remote object {request.id}")]
            )
        state = _dv(conform_block(t.block, found))
        imported = pb.ImportResourceState.ImportedResource(type_name=t.name, state=state)
        return pb.ImportResourceState.Response(imported_resources=[imported])

    # -- data sources ------------------------------------------------------------------------

    @_guarded(pb.ReadDataSource.Response)
    def ReadDataSource(self, request: Any, context: Any) -> Any:
        t = self.schema.data_sources[request.type_name]
        config = _value(request.config) or {}
        with tenancy() as ten:
            found = readers.read(t.name, config, readers.ReadContext(self.region, ten))

        def merge(path: str, a: Attribute, value: Any, read_value: Any) -> Any:
            return value if value is not None else read_value

        state = map_attributes(t.block, dict(config), found, merge)
        if state.get("id") is None:  # SDKv2 data sources set a hash-of-time id; any string
            digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode())
            state["id"] = f"{t.name}-{digest.hexdigest()[:16]}"
        return pb.ReadDataSource.Response(state=_dv(conform_block(t.block, state)))


# -- go-plugin ----------------------------------------------------------------------------------


class _Controller(controller_rpc.GRPCControllerServicer):  # type: ignore[misc]
    def __init__(self, stopped: threading.Event) -> None:
        self.stopped = stopped

    def Shutdown(self, request: Any, context: Any) -> Any:
        self.stopped.set()
        return controller_pb.Empty()


class _Stdio(stdio_rpc.GRPCStdioServicer):  # type: ignore[misc]
    def StreamStdio(self, request: Any, context: Any) -> Any:
        return iter(())


def serve(cert_dir: Path) -> None:
    """Announce the socket on stdout (go-plugin's handshake line) and serve until shutdown."""
    if os.environ.get("TF_PLUGIN_MAGIC_COOKIE") is None:
        print("This is a Terraform provider plugin: Terraform starts it.", file=sys.stderr)
        raise SystemExit(1)
    cert = (cert_dir / CERT_FILE).read_bytes()
    key = (cert_dir / KEY_FILE).read_bytes()
    provider = StandInProvider(load())
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    rpc.add_ProviderServicer_to_server(provider, server)
    controller_rpc.add_GRPCControllerServicer_to_server(_Controller(provider.stopped), server)
    stdio_rpc.add_GRPCStdioServicer_to_server(_Stdio(), server)
    with tempfile.TemporaryDirectory(prefix="standin-oci-") as tmp:
        sock = f"{tmp}/plugin.sock"
        server.add_secure_port(f"unix://{sock}", grpc.ssl_server_credentials([(key, cert)]))
        server.start()
        der = _pem_to_der(cert)
        cert_b64 = base64.b64encode(der).decode().rstrip("=")
        print(f"1|6|unix|{sock}|grpc|{cert_b64}", flush=True)
        parent = os.getppid()
        # Terraform shuts the plugin down over gRPC; if Terraform itself is killed, the plugin
        # is re-parented: stop then rather than linger.
        while not provider.stopped.wait(1.0):
            if os.getppid() != parent:
                break
        server.stop(grace=0.2).wait()


def _pem_to_der(pem: bytes) -> bytes:
    body = b"".join(line for line in pem.splitlines() if line and not line.startswith(b"-----"))
    return base64.b64decode(body)
