"""A local downstream API on 127.0.0.1: real HTTP, records every request, injects faults.

Stands in for the system Sluice protects, in the demo, the e2e tests and the benchmarks. It
measures what matters there: requests with timestamps, in-flight concurrency and its peak, and
repeats of the same Idempotency-Key; ``GET /stats`` gives those counts to other processes.

Latency is either ``latency_s`` (real seconds, every request alike) or a :class:`Latency` drawn
per request: ``parse_latency("5-30")`` is 5 to 30 seconds of AWS time, slept times the run's
time scale, so a workload specified in AWS seconds runs in minutes.
"""

from __future__ import annotations

import json
import math
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
class Latency:
    """Per-request latency, drawn uniformly from [low_s, high_s] (equal bounds: a constant).

    ``time_scaled``: the seconds are the modelled API's (AWS time) and the server sleeps them
    times its ``time_scale``; otherwise they are slept as given, in real seconds, so they keep
    their meaning against Lambda timeouts (which the runtime never scales).
    """

    low_s: float
    high_s: float
    time_scaled: bool

    def __post_init__(self) -> None:
        if not 0 <= self.low_s <= self.high_s:
            raise ValueError(
                "latency range must be 0 <= low <= high seconds,"
                f" got {self.low_s:g}-{self.high_s:g}"
            )

    def setting(self) -> dict[str, Any]:
        """As the report records it: ``{"seconds": [5.0, 30.0], "time_scaled": true}``."""
        seconds: float | list[float] = (
            self.low_s if self.low_s == self.high_s else [self.low_s, self.high_s]
        )
        return {"seconds": seconds, "time_scaled": self.time_scaled}


def parse_latency(text: str, *, time_scaled: bool | None = None) -> Latency:
    """``"0.2"``: 0.2 real seconds a request (what the flag always meant; tests and the issue's
    Lambda-timeout commands rely on it). ``"5-30"``: drawn per request from 5 to 30 seconds of
    AWS time, time-scaled. ``time_scaled`` overrides either default.

    Raises ValueError with a message fit for the command line.
    """
    raw = text.strip()
    low_text, sep, high_text = raw.partition("-")
    if sep and not low_text:
        raise ValueError(f"latency must not be negative, got {text!r}")
    try:
        low = float(low_text)
        high = float(high_text) if sep else low
    except ValueError:
        raise ValueError(
            f"latency must be seconds (0.2) or a range of seconds (5-30), got {text!r}"
        ) from None
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"latency must be a finite number of seconds, got {text!r}")
    if low < 0 or high < 0:
        raise ValueError(f"latency must not be negative, got {text!r}")
    if low > high:
        raise ValueError(f"latency range must run low to high (5-30), got {text!r}")
    return Latency(low, high, bool(sep) if time_scaled is None else time_scaled)


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
        latency: Latency | None = None,
        time_scale: float = 1.0,
        failure_rate: float = 0.0,
        failure_status: int | tuple[int, ...] = 503,
        timeout_rate: float = 0.0,
        timeout_hold_s: float = 2.0,
        seed: int | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)  # noqa: S311 - fault injection, not security
        # Its own stream, so drawing latencies neither shifts the fault sequence of a seed nor
        # is shifted by it; a str seed hashes the same in every process (runs repeat).
        self._latency_rng = random.Random(f"latency:{seed}")  # noqa: S311 - not security
        self._script: deque[Any] = deque()
        self.latency_s = latency_s
        self.latency = latency  # when set, it wins over latency_s
        self.time_scale = time_scale
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
        """Change latency_s, latency, failure_rate, failure_status, timeout_rate while running.

        Setting latency_s clears latency: the knob set last is the one that applies."""
        with self._lock:
            if "latency_s" in knobs and "latency" not in knobs:
                self.latency = None
            for name, value in knobs.items():
                if name not in {
                    "latency_s",
                    "latency",
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

    def stats(self) -> dict[str, Any]:
        """What GET /stats answers: counts a process other than this one can read (`sluice-local
        up` runs the server; a test or `sluice perf` in another process watches it)."""
        with self._lock:
            requests = list(self.requests)
            in_flight, peak = self.in_flight, self.peak_in_flight
        accepted = [r for r in requests if r.status is not None and 200 <= r.status < 300]
        keys = Counter(r.headers.get("Idempotency-Key", "") for r in accepted)
        return {
            "requests": len(requests),
            "accepted": len(accepted),
            "failed": len(requests) - len(accepted),
            "in_flight": in_flight,
            "peak_in_flight": peak,
            "duplicate_keys": sum(1 for n in keys.values() if n > 1),
        }

    def latency_setting(self) -> dict[str, Any]:
        """The latency as the report records it (see :meth:`Latency.setting`)."""
        with self._lock:
            if self.latency is not None:
                return self.latency.setting()
            return Latency(self.latency_s, self.latency_s, time_scaled=False).setting()

    # -- internals -------------------------------------------------------------------------
    def draw_latency(self) -> float:
        """Real seconds the next request waits: a draw from ``latency`` (times time_scale when
        it is time-scaled), else ``latency_s``. Call with the lock held."""
        spec = self.latency
        if spec is None:
            return self.latency_s
        seconds = (
            spec.low_s
            if spec.low_s == spec.high_s
            else self._latency_rng.uniform(spec.low_s, spec.high_s)
        )
        return seconds * self.time_scale if spec.time_scaled else seconds

    def _decide(self) -> tuple[int | None, dict[str, str], float]:
        with self._lock:
            latency = self.draw_latency()
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

            def do_GET(self) -> None:
                # Observation only: never recorded, never counted in flight.
                if self.path.split("?", 1)[0] != "/stats":
                    self.send_error(404)
                    return
                payload = json.dumps(server.stats()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

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
