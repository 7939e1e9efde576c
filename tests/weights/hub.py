"""A stand-in for the Hugging Face hub and its CDN: two HTTP servers on loopback, on different
origins, as huggingface.co and cdn-lfs.hf.co / cas-bridge.xethub.hf.co are.

The hub answers what the pull asks of it (GET /api/models/ID/revision/REV?blobs=true, and
/ID/resolve/SHA/FILE), gated like a private repo when given a token: 401 without one, 401 for
another one. Its resolve URLs redirect as the real hub's do: LFS files with a 302 to the CDN
(a presigned URL there), and, for a renamed repo, with a relative 307 to the hub itself. The
CDN refuses any request that carries Authorization (an S3-style presigned URL allows one
authentication mechanism), and both servers record every Authorization header they see.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SHA = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class Seen:
    """What a server was sent: (path, Authorization header or None), in order."""

    requests: list[tuple[str, str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, path: str, auth: str | None) -> None:
        with self.lock:
            self.requests.append((path, auth))


@dataclass
class Hub:
    url: str
    cdn_url: str
    hub_seen: Seen
    cdn_seen: Seen


def _lfs(name: str) -> bool:
    return name.endswith(".safetensors")


def _send(
    handler: BaseHTTPRequestHandler, body: bytes, ctype: str = "application/octet-stream"
) -> None:
    """200, or 206 for a `Range: bytes=a-b` request, as the hub and its CDN answer."""
    m = re.fullmatch(r"bytes=(\d+)-(\d+)", handler.headers.get("Range") or "")
    if m:
        a, b = int(m[1]), min(int(m[2]), len(body) - 1)
        handler.send_response(206)
        handler.send_header("Content-Range", f"bytes {a}-{b}/{len(body)}")
        body = body[a : b + 1]
    else:
        handler.send_response(200)
    handler.send_header("Content-Type", ctype)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _status(
    handler: BaseHTTPRequestHandler, code: int, headers: dict[str, str] | None = None
) -> None:
    body = json.dumps({"error": f"HTTP {code}"}).encode()
    handler.send_response(code)
    for k, v in (headers or {}).items():
        handler.send_header(k, v)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _serve(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@contextmanager
def fake_hub(
    model: str, files: Path, token: str | None, renamed_from: str = "", listed: bool = False
) -> Iterator[Hub]:
    """Serve the files under `files` as hub repo `model` (gated by `token` unless None).

    With `renamed_from`, that old id redirects (307, relative) to `model` on the hub itself, as
    the hub does for a renamed repo. With `listed`, the file list is public and only the files
    are gated, as on a gated model whose terms the caller has not accepted.
    """
    blobs = {
        p.relative_to(files).as_posix(): p.read_bytes() for p in files.rglob("*") if p.is_file()
    }
    by_sha = {hashlib.sha256(b).hexdigest(): b for n, b in blobs.items() if _lfs(n)}
    hub_seen, cdn_seen = Seen(), Seen()

    def sibling(name: str, body: bytes) -> dict[str, Any]:
        if _lfs(name):
            lfs = {"sha256": hashlib.sha256(body).hexdigest(), "size": len(body)}
            return {"rfilename": name, "size": len(body), "lfs": lfs}
        blob = hashlib.sha1(b"blob %d\0" % len(body) + body).hexdigest()
        return {"rfilename": name, "size": len(body), "blobId": blob}

    info = {"id": model, "sha": SHA, "siblings": [sibling(n, b) for n, b in sorted(blobs.items())]}

    class Cdn(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            auth = self.headers.get("Authorization")
            cdn_seen.add(self.path, auth)
            path = urllib.parse.urlsplit(self.path).path
            body = by_sha.get(path.rsplit("/", 1)[-1])
            if auth is not None:
                _status(self, 400)  # a presigned URL and a second credential
            elif body is None:
                _status(self, 404)
            else:
                _send(self, body)

        def log_message(self, format: str, *args: object) -> None:
            return

    cdn, cdn_url = _serve(Cdn)

    class HubHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            auth = self.headers.get("Authorization")
            hub_seen.add(self.path, auth)
            path = urllib.parse.urlsplit(self.path).path
            old = (f"/{renamed_from}/", f"/api/models/{renamed_from}/") if renamed_from else ()
            prefix = f"/{model}/resolve/{SHA}/"
            name = urllib.parse.unquote(path[len(prefix) :]) if path.startswith(prefix) else ""
            if old and path.startswith(old):
                # Relative, as the hub sends it; the query (blobs=true) goes along.
                query = urllib.parse.urlsplit(self.path).query
                new = path.replace(f"/{renamed_from}/", f"/{model}/", 1)
                _status(self, 307, {"Location": new + (f"?{query}" if query else "")})
            elif path == f"/api/models/{model}/revision/main" and listed:
                _send(self, json.dumps(info).encode(), "application/json")
            elif token is not None and auth != f"Bearer {token}":
                _status(self, 401)  # the hub's answer for a gated repo without access
            elif path == f"/api/models/{model}/revision/main":
                _send(self, json.dumps(info).encode(), "application/json")
            elif name not in blobs:
                _status(self, 404)
            elif _lfs(name):
                sha = hashlib.sha256(blobs[name]).hexdigest()
                _status(self, 302, {"Location": f"{cdn_url}/blobs/{sha}?X-Amz-Signature=s"})
            else:
                _send(self, blobs[name])

        def log_message(self, format: str, *args: object) -> None:
            return

    hub, hub_url = _serve(HubHandler)
    try:
        yield Hub(hub_url, cdn_url, hub_seen, cdn_seen)
    finally:
        for s in (hub, cdn):
            s.shutdown()
            s.server_close()
