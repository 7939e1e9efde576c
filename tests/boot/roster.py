"""A stand-in for the roster object behind its read-only PAR, on a booted stack's private network.

Object Storage answers GET /p/TOKEN/n/NAMESPACE/b/BUCKET/o/OBJECT with the object, or 404
until it exists. The harness plays Terraform: it writes the roster file only once the pool's
nodes run, as `terraform apply` creates the object only after the cluster network is RUNNING
and its instances' addresses are read (docs/cluster-network.md). Runs in the switch namespace:

    python -m tests.boot.roster --address A --port P --path /p/... --file F --log L --ready R
"""

from __future__ import annotations

import argparse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        body, status = b'{"code": "ObjectNotFound"}\n', 404
        if path == self.server.object_path and self.server.file.is_file():
            body, status = self.server.file.read_bytes(), 200
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if status == 200 else "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with self.server.log.open("a") as fh:
            fh.write(f"{self.client_address[0]} GET {path} {status}\n")

    def log_message(self, format: str, *args: Any) -> None:
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], object_path: str, file: Path, log: Path) -> None:
        super().__init__(address, _Handler)
        self.object_path, self.file, self.log = object_path, file, log


def main(argv: list[str] | None = None) -> None:
    """Serve until killed; touch --ready once the socket is bound."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--file", type=Path, required=True)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--ready", type=Path, required=True)
    args = parser.parse_args(argv)
    server = _Server((args.address, args.port), args.path, args.file, args.log)
    args.ready.write_text(f"{args.address}:{args.port}\n")
    server.serve_forever()


if __name__ == "__main__":
    main()
