"""A local downstream API on 127.0.0.1: real HTTP, records every request, injects faults.

Stands in for the system Sluice protects, in the demo, the e2e tests and the benchmarks. It
measures what matters there: requests with timestamps, in-flight concurrency and its peak, and
repeats of the same Idempotency-Key.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from sluice_local.servers.http import LocalHttpServer

TIMEOUT = "timeout"


@dataclass(frozen=True)
class RecordedRequest:
    started: float  # time.monotonic()
    finished: float
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or the raw text when it is not JSON
    status: int | None  # None: the server held the request and closed without answering
    in_flight_at_start: int


class DownstreamServer(LocalHttpServer):
    """``with DownstreamServer(latency_s=0.01) as api: ... api.url ... api.peak_in_flight``."""

    thread_name = "downstream"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        latency_s: float = 0.0,
        failure_rate: float = 0.0,
        failure_status: int | tuple[int, ...] = 503,
        timeout_rate: float = 0.0,
        timeout_hold_s: float = 2.0,
        seed: int | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)  # noqa: S311 - fault injection, not security
        self._script: deque[Any] = deque()
        self.latency_s = latency_s
        self.failure_rate = failure_rate
        self.failure_status = failure_status
        self.timeout_rate = timeout_rate
        self.timeout_hold_s = timeout_hold_s
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        super().__init__(host, port, self._handler_class())

    @property
    def url(self) -> str:
        return super().url + "/rows"

    # -- behaviour -------------------------------------------------------------------------
    def configure(self, **knobs: Any) -> None:
        """Change latency_s, failure_rate, failure_status, timeout_rate while running."""
        with self._lock:
            for name, value in knobs.items():
                if name not in {
                    "latency_s",
                    "failure_rate",
                    "failure_status",
                    "timeout_rate",
                    "timeout_hold_s",
                }:
                    raise TypeError(f"unknown knob {name}")
                setattr(self, name, value)

    def script(self, *responses: Any) -> None:
        """Next responses, first in first out, before the random policy applies: a status
        (int), ``(status, {header: value})``, or ``"timeout"``."""
        with self._lock:
            self._script.extend(responses)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._script.clear()
            self.peak_in_flight = self.in_flight

    # -- observations ----------------------------------------------------------------------
    def accepted(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.status is not None and 200 <= r.status < 300]

    def duplicate_keys(self) -> dict[str, int]:
        """Idempotency-Key values accepted more than once."""
        counts = Counter(r.headers.get("Idempotency-Key", "") for r in self.accepted())
        return {key: n for key, n in counts.items() if n > 1}

    # -- internals -------------------------------------------------------------------------
    def _decide(self) -> tuple[int | None, dict[str, str], float]:
        with self._lock:
            latency = self.latency_s
            if self._script:
                planned = self._script.popleft()
            elif self._rng.random() < self.timeout_rate:
                planned = TIMEOUT
            elif self._rng.random() < self.failure_rate:
                statuses = self.failure_status
                # One status, or a mix to pick from (e.g. (429, 500, 503)).
                planned = self._rng.choice(statuses) if isinstance(statuses, tuple) else statuses
            else:
                planned = 200
        if planned == TIMEOUT:
            return None, {}, self.timeout_hold_s
        if isinstance(planned, tuple):
            return int(planned[0]), dict(planned[1]), latency
        return int(planned), {}, latency

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes; with Nagle on, the second waits for the
            # client's delayed ACK (~40 ms a request), which no real API would add.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                with server._lock:
                    server.in_flight += 1
                    in_flight = server.in_flight
                    server.peak_in_flight = max(server.peak_in_flight, in_flight)
                started = time.monotonic()
                status: int | None = None
                body: Any = None
                recorded = False

                def record() -> None:
                    # Recorded before the answer goes out: a client that has its response
                    # always finds its request in server.requests.
                    nonlocal recorded
                    with server._lock:
                        server.in_flight -= 1
                        server.requests.append(
                            RecordedRequest(
                                started=started,
                                finished=time.monotonic(),
                                method="POST",
                                path=self.path,
                                headers=dict(self.headers.items()),
                                body=body,
                                status=status,
                                in_flight_at_start=in_flight,
                            )
                        )
                    recorded = True

                try:
                    length = int(self.headers.get("Content-Length") or 0)
                    raw = self.rfile.read(length).decode("utf-8", "replace")
                    try:
                        body = json.loads(raw)
                    except json.JSONDecodeError:
                        body = raw
                    status, headers, delay = server._decide()
                    if delay:
                        time.sleep(delay)
                    record()
                    if status is None:
                        self.close_connection = True
                    else:
                        payload = b'{"ok": true}' if status < 300 else b'{"error": "injected"}'
                        self.send_response(status)
                        for name, value in headers.items():
                            self.send_header(name, value)
                        self.send_header("Content-Type", "application/json")
                        self.send_header("Content-Length", str(len(payload)))
                        self.end_headers()
                        self.wfile.write(payload)
                finally:
                    if not recorded:
                        record()

        return Handler
