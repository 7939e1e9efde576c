"""A reverse proxy in front of the S3 server that slows responses down or corrupts them, to
kill a pull part-way and to hand it bad bytes (loopback only, stopped with the block)."""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: (path, body) -> body to send; the default passes bytes through.
Mangle = Callable[[str, bytes], bytes]


@contextmanager
def proxy(upstream: str, delay_s: float = 0.0, mangle: Mangle | None = None) -> Iterator[str]:
    """Serve upstream's GETs at the returned URL, each body after `delay_s`, through `mangle`."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            headers = {k: v for k, v in self.headers.items() if k.lower() == "range"}
            req = urllib.request.Request(upstream + self.path, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=30) as resp:
                    status, body, ctype = resp.status, resp.read(), resp.headers
            except urllib.error.HTTPError as err:
                status, body, ctype = err.code, err.read(), err.headers
            time.sleep(delay_s)
            if mangle is not None and status in (200, 206):
                body = mangle(self.path, body)
            self.send_response(status)
            for k in ("Content-Range", "Content-Type"):
                if ctype.get(k):
                    self.send_header(k, ctype[k])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
