"""TCP connections opened from inside a network namespace, for in-process tests.

A network namespace belongs to a thread, and a socket to the namespace it was created in: a
helper thread enters the lab's client namespace (setns) and creates sockets on request, which
any thread may then use. The pytest process itself never leaves the host's namespace.
"""

from __future__ import annotations

import ctypes
import os
import queue
import socket
import threading
from dataclasses import dataclass

from infra.ops.ssh import tcp_connect

from .netns import NETNS_DIR

CLONE_NEWNET = 0x40000000


@dataclass(frozen=True)
class _Request:
    host: str
    port: int
    timeout_s: float
    reply: queue.Queue[socket.socket | OSError]


class NetnsConnector:
    """A Connector (infra.ops.ssh) whose connections start in namespace `netns`."""

    def __init__(self, netns: str) -> None:
        self._requests: queue.Queue[_Request | None] = queue.Queue()
        entered: queue.Queue[OSError | None] = queue.Queue()
        self._thread = threading.Thread(
            target=self._serve, args=(netns, entered), name=f"netns-{netns}", daemon=True
        )
        self._thread.start()
        failed = entered.get(timeout=10)
        if failed is not None:
            raise failed

    def __call__(self, host: str, port: int, timeout_s: float) -> socket.socket:
        reply: queue.Queue[socket.socket | OSError] = queue.Queue()
        self._requests.put(_Request(host, port, timeout_s, reply))
        got = reply.get(timeout=timeout_s + 5)
        if isinstance(got, OSError):
            raise got
        return got

    def close(self) -> None:
        self._requests.put(None)
        self._thread.join(timeout=5)

    def _serve(self, netns: str, entered: queue.Queue[OSError | None]) -> None:
        try:
            _setns(netns)
        except OSError as err:
            entered.put(err)
            return
        entered.put(None)
        while (req := self._requests.get()) is not None:
            try:
                req.reply.put(tcp_connect(req.host, req.port, req.timeout_s))
            except OSError as err:
                req.reply.put(err)


def _setns(netns: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(NETNS_DIR / netns, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {netns}: {os.strerror(err)}")
    finally:
        os.close(fd)
