"""A Splunk HTTP Event Collector (HEC) on 127.0.0.1: real HTTP, the event endpoint's contract.

``POST /services/collector/event`` (also ``/event/1.0`` and ``/services/collector``) with
``Authorization: Splunk <token>`` and a body of concatenated JSON event objects. It answers as
Splunk does: 200 ``{"text":"Success","code":0}``; 401 code 2 (no token) or 3 (unreadable
header); 403 code 4 (unknown token); 400 code 5 (no data), 6 (invalid data format), 7
(incorrect index), 12/13 (event field missing/blank), with ``invalid-event-number`` (0-based);
413 over ``max_content_length``; and whatever :meth:`HecServer.fail_next` injects (503 code 9
"Server is busy", 429 with Retry-After, ...). Like Splunk, the events before the first invalid
one of a batch are indexed (recorded) and the rest are not.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from sluice_local.servers.http import LocalHttpServer

EVENT_PATHS = frozenset(
    {"/services/collector/event", "/services/collector/event/1.0", "/services/collector"}
)
HEALTH_PATH = "/services/collector/health"
DEFAULT_TOKEN = "00000000-0000-4000-8000-00000000c0de"  # noqa: S105 - a local test token
# What Splunk answers beside each status when fail_next() injects one.
FAULT_REPLIES: dict[int, dict[str, Any]] = {
    429: {"text": "Too many requests", "code": 9},
    500: {"text": "Internal server error", "code": 8},
    503: {"text": "Server is busy", "code": 9},
}


@dataclass(frozen=True)
class HecRequest:
    received: float  # time.monotonic()
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # 0: the server closed the connection without answering
    reply: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)  # the events it indexed


@dataclass(frozen=True)
class _Fault:
    status: int | None  # None: answer normally; 0: hold, then close without answering
    retry_after: float | None = None
    hold_s: float = 0.0


class HecServer(LocalHttpServer):
    """``with HecServer(token="t") as hec: ... hec.url ... hec.events``.

    ``url`` is what SPLUNK_HEC_URL takes (``http://127.0.0.1:<port>``); ``event_url`` is the
    full event endpoint. ``events`` are the accepted event objects, as sent, in arrival order.
    """

    thread_name = "hec"

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        indexes: Iterable[str] | None = None,
        max_content_length: int | None = None,
    ) -> None:
        self.token = token
        self.indexes = frozenset(indexes) if indexes is not None else None  # None: any index
        self.max_content_length = max_content_length
        self.requests: list[HecRequest] = []
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._faults: deque[_Fault] = deque()
        super().__init__(host, port, self._handler_class())

    @property
    def event_url(self) -> str:
        return f"{self.url}/services/collector/event"

    # -- behaviour -------------------------------------------------------------------------
    def fail_next(
        self, n: int = 1, status: int = 503, retry_after: float | None = None, *, after: int = 0
    ) -> None:
        """Answer ``n`` event POSTs with ``status`` (and a Retry-After header), once ``after``
        more have been answered normally."""
        with self._lock:
            self._faults.extend(_Fault(None) for _ in range(after))
            self._faults.extend(_Fault(status, retry_after) for _ in range(n))

    def drop_next(self, n: int = 1, hold_s: float = 0.5) -> None:
        """Hold the next ``n`` event POSTs for ``hold_s``, then close without answering."""
        with self._lock:
            self._faults.extend(_Fault(0, hold_s=hold_s) for _ in range(n))

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.events.clear()
            self._faults.clear()

    # -- observations ----------------------------------------------------------------------
    def accepted(self) -> list[HecRequest]:
        with self._lock:
            return [r for r in self.requests if r.status == 200]

    # -- the contract ----------------------------------------------------------------------
    def _authorize(self, header: str | None) -> tuple[int, dict[str, Any]] | None:
        if not header:
            return 401, {"text": "Token is required", "code": 2}
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "splunk" or not token.strip():
            return 401, {"text": "Invalid authorization", "code": 3}
        if token.strip() != self.token:
            return 403, {"text": "Invalid token", "code": 4}
        return None

    def _parse(self, text: str) -> tuple[list[dict[str, Any]], tuple[int, dict[str, Any]] | None]:
        """The valid events before the first invalid one, and the error for that one."""
        decoder = json.JSONDecoder()
        events: list[dict[str, Any]] = []
        position = 0
        while True:
            while position < len(text) and text[position].isspace():
                position += 1
            if position == len(text):
                break
            n = len(events)
            try:
                event, position = decoder.raw_decode(text, position)
            except json.JSONDecodeError:
                return events, self._invalid(6, "Invalid data format", n)
            if not isinstance(event, dict):
                return events, self._invalid(6, "Invalid data format", n)
            if "event" not in event:
                return events, self._invalid(12, "Event field is required", n)
            value = event["event"]
            if value is None or (isinstance(value, str) and not value.strip()):
                return events, self._invalid(13, "Event field cannot be blank", n)
            index = event.get("index")
            if index is not None and self.indexes is not None and index not in self.indexes:
                return events, self._invalid(7, "Incorrect index", n)
            fields = event.get("fields")
            if fields is not None and not _indexed_fields_ok(fields):
                return events, self._invalid(15, "Error in handling indexed fields", n)
            if not _time_ok(event.get("time")):
                return events, self._invalid(6, "Invalid data format", n)
            events.append(event)
        if not events:
            return events, (400, {"text": "No data", "code": 5})
        return events, None

    @staticmethod
    def _invalid(code: int, text: str, n: int) -> tuple[int, dict[str, Any]]:
        return 400, {"text": text, "code": code, "invalid-event-number": n}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body in two writes: no delayed ACK

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _answer(
                self, status: int, reply: dict[str, Any], headers: dict[str, str] | None = None
            ) -> None:
                payload = json.dumps(reply).encode()
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _record(
                self,
                body: bytes,
                status: int,
                reply: dict[str, Any],
                events: list[dict[str, Any]] | None = None,
            ) -> None:
                # Recorded before the answer goes out: a client holding its response always
                # finds its request (and its events) here.
                request = HecRequest(
                    received=time.monotonic(),
                    method=self.command,
                    path=self.path,
                    headers=dict(self.headers.items()),
                    body=body,
                    status=status,
                    reply=reply,
                    events=list(events or []),
                )
                with server._lock:
                    server.requests.append(request)
                    server.events.extend(request.events)

            def do_GET(self) -> None:
                if self.path.split("?")[0] == HEALTH_PATH:
                    self._answer(200, {"text": "HEC is healthy", "code": 17})
                else:
                    self._answer(404, {"text": "The requested URL was not found on this server."})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                path = self.path.split("?")[0]
                if path not in EVENT_PATHS:
                    reply = {"text": "The requested URL was not found on this server."}
                    self._record(body, 404, reply)
                    self._answer(404, reply)
                    return
                refused = server._authorize(self.headers.get("Authorization"))
                if refused is not None:
                    self._record(body, *refused)
                    self._answer(*refused)
                    return
                with server._lock:
                    fault = server._faults.popleft() if server._faults else None
                if fault is not None and fault.status is not None:
                    if fault.status == 0:
                        time.sleep(fault.hold_s)
                        self._record(body, 0, {})
                        self.close_connection = True
                        return
                    reply = FAULT_REPLIES.get(fault.status, {"text": "Injected fault"})
                    headers = {}
                    if fault.retry_after is not None:
                        headers["Retry-After"] = f"{fault.retry_after:g}"
                    self._record(body, fault.status, reply)
                    self._answer(fault.status, reply, headers)
                    return
                limit = server.max_content_length
                if limit is not None and length > limit:
                    reply = {"text": f"Content-Length of {length} too large (maximum is {limit})"}
                    self._record(body, 413, reply)
                    self._answer(413, reply)
                    return
                if (self.headers.get("Content-Encoding") or "").lower() == "gzip":
                    try:
                        body = gzip.decompress(body)
                    except (OSError, EOFError):
                        self._record(body, 400, {"text": "Invalid data format", "code": 6})
                        self._answer(400, {"text": "Invalid data format", "code": 6})
                        return
                events, error = server._parse(body.decode("utf-8", "replace"))
                status, reply = error or (200, {"text": "Success", "code": 0})
                self._record(body, status, reply, events)
                self._answer(status, reply)

        return Handler


def _indexed_fields_ok(fields: Any) -> bool:
    """Indexed fields: a flat object of strings (or arrays of strings)."""
    if not isinstance(fields, dict):
        return False
    return all(
        isinstance(v, str) or (isinstance(v, list) and all(isinstance(i, str) for i in v))
        for v in fields.values()
    )


def _time_ok(value: Any) -> bool:
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return True
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return False
        return True
    return False
