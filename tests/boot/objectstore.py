"""A stand-in for Object Storage behind read-only PARs, on a booted stack's private network.

Object Storage answers GET /p/TOKEN/n/NAMESPACE/b/BUCKET/o/OBJECT with the object, or 404
while it does not exist. Each object is a file in --dir named by its whole URL path, quoted
(`urllib.parse.quote(path, safe="")`): the harness writes the bundles before any node boots,
as Terraform uploads them before it launches the instances, and the roster only once the
pool's nodes run (docs/cluster-network.md). Runs in the switch namespace:

    python -m tests.boot.objectstore --address A --port P --dir D --log L --ready R
"""

from __future__ import annotations

import argparse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit


def object_file(directory: Path, path: str) -> Path:
    """Where the object served at URL path `path` lives."""
    return directory / quote(path, safe="")


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        body, status = b'{"code": "ObjectNotFound"}\n', 404
        file = object_file(self.server.dir, path)
        if path.startswith("/p/") and "/o/" in path and file.is_file():
            body, status = file.read_bytes(), 200
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

    def __init__(self, address: tuple[str, int], directory: Path, log: Path) -> None:
        super().__init__(address, _Handler)
        self.dir, self.log = directory, log


def main(argv: list[str] | None = None) -> None:
    """Serve until killed; touch --ready once the socket is bound."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--ready", type=Path, required=True)
    args = parser.parse_args(argv)
    server = _Server((args.address, args.port), args.dir, args.log)
    args.ready.write_text(f"{args.address}:{args.port}\n")
    server.serve_forever()


if __name__ == "__main__":
    main()
