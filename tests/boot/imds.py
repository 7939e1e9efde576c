"""A stand-in for OCI's instance metadata service, version 2, for one instance.

It serves an instance document (written by the harness from infra.node_metadata, so the keys
are never spelled out here) the way IMDS v2 does:

    GET /opc/v2/instance/                 the whole document as JSON
    GET /opc/v2/instance/<field>          one field: text for a string, JSON otherwise
    GET /opc/v2/instance/metadata/<key>   one metadata value as text
    GET /opc/v2/vnics/                    the instance's VNICs as JSON (primary first)

Every request needs `Authorization: Bearer Oracle` (401 otherwise); anything else is 404.
The harness runs it inside a container's private network namespace on 169.254.169.254:80:

    python -m tests.boot.imds --document doc.json --log requests.log --ready ready
"""

from __future__ import annotations

import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = "/opc/v2/instance"
VNICS = "/opc/v2/vnics"
AUTH_HEADER = "Authorization"
AUTH_VALUE = "Bearer Oracle"


def lookup(
    document: dict[str, Any], path: str, vnics: list[dict[str, Any]] | None = None
) -> tuple[int, str, str]:
    """Status, content type and body for GET `path` against `document` and `vnics` (auth
    already checked)."""
    clean = urlsplit(path).path.rstrip("/")
    if clean == VNICS and vnics is not None:
        return 200, "application/json", json.dumps(vnics, indent=2)
    if clean != ROOT and not clean.startswith(ROOT + "/"):
        return 404, "text/plain", "Not Found\n"
    node: Any = document
    for part in [p for p in clean[len(ROOT) :].split("/") if p]:
        if not isinstance(node, dict) or part not in node:
            return 404, "text/plain", "Not Found\n"
        node = node[part]
    if isinstance(node, str):
        return 200, "text/plain", node
    return 200, "application/json", json.dumps(node, indent=2)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        if self.headers.get(AUTH_HEADER) != AUTH_VALUE:
            status, ctype, body = 401, "text/plain", "Unauthorized\n"
        else:
            status, ctype, body = lookup(self.server.document, self.path, self.server.vnics)
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.server.record(f"GET {self.path} {status}")

    def log_message(self, format: str, *args: Any) -> None:
        # Requests go to the harness's log via record(); stderr stays for real errors.
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        document: dict[str, Any],
        log: Path,
        vnics: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(address, _Handler)
        self.document = document
        self.vnics = vnics
        self._log = log

    def record(self, line: str) -> None:
        with self._log.open("a") as fh:
            fh.write(line + "\n")


def main(argv: list[str] | None = None) -> None:
    """Serve until killed; touch --ready once the socket is bound."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--document", type=Path, required=True)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--ready", type=Path, required=True)
    parser.add_argument("--vnics", type=Path)
    parser.add_argument("--host", default="169.254.169.254")
    parser.add_argument("--port", type=int, default=80)
    args = parser.parse_args(argv)
    document = json.loads(args.document.read_text())
    vnics = json.loads(args.vnics.read_text()) if args.vnics else None
    server = _Server((args.host, args.port), document, args.log, vnics)
    args.ready.write_text(f"{args.host}:{args.port}\n")
    server.serve_forever()


if __name__ == "__main__":
    main()
