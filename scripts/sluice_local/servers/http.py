"""What every local server shares: a server served from a daemon thread and a prompt stop (a
short poll, so ``with`` blocks end without waiting half a second); and the HTTP stand-ins' own
ThreadingHTTPServer with its base URL."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class ServedThread:
    """``serve_forever`` of a socketserver-like server (ThreadingHTTPServer, werkzeug's) on a
    daemon thread of its own, until :meth:`stop`."""

    thread_name = "local-server"
    poll_interval = 0.05
    stop_timeout = 5.0

    def __init__(self, server: Any) -> None:
        self._server = server
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": self.poll_interval},
                name=self.thread_name,
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Idempotent; a server that never started is closed too."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=self.stop_timeout)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class LocalHttpServer(ServedThread):
    thread_name = "local-http"

    def __init__(self, host: str, port: int, handler: type[BaseHTTPRequestHandler]) -> None:
        server = ThreadingHTTPServer((host, port), handler)
        server.daemon_threads = True
        super().__init__(server)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host}:{port}"
