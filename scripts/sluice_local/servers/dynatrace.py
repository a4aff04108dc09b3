"""A local Dynatrace metrics ingest endpoint on 127.0.0.1: real HTTP, a real line parser.

``POST /api/v2/metrics/ingest`` as Dynatrace answers it: ``Authorization: Api-Token <token>``
(401 otherwise), a ``text/plain`` body of at most 1 MB, every line parsed on its own by the
metric ingestion protocol (key, dimensions quoted or escaped, payload, timestamp), then 202 with
``{"linesOk", "linesInvalid", "error": {"invalidLines": [{"line", "error"}]}}``, or 400 when no
line is valid. The parser trusts nothing of the client: what a test reads from :attr:`lines`
is what Dynatrace would have stored.

    with DynatraceServer(token="dt0c01.test") as dynatrace:
        ... dynatrace.url ...               # the environment URL (DYNATRACE_API_URL)
        dynatrace.fail_next(2, status=503)  # fault injection
        dynatrace.lines                     # parsed data points
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from sluice_local.servers.http import LocalHttpServer

INGEST_PATH = "/api/v2/metrics/ingest"
MAX_BODY_BYTES = 1_000_000
MAX_DIMENSIONS = 50
MAX_KEY_LENGTH = 255
MAX_DIMENSION_KEY_LENGTH = 100
MAX_DIMENSION_VALUE_LENGTH = 250
PAST_LIMIT_MS = 3600 * 1000  # data points older than an hour are refused
FUTURE_LIMIT_MS = 600 * 1000  # ... and more than 10 minutes ahead

# A metric key: dot-separated sections of letters, digits, hyphens and underscores; it starts
# with a letter or underscore, no section starts with a hyphen.
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_][A-Za-z0-9_-]*)*")
_DIMENSION_KEY = re.compile(r"[a-z_][a-z0-9_.:-]*")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_TIMESTAMP = re.compile(r"\d{1,16}")


class LineError(ValueError):
    """One line is not valid metric ingestion protocol; the message says why."""


@dataclass(frozen=True)
class IngestedLine:
    key: str
    dimensions: dict[str, str]
    kind: str  # "gauge" or "count"
    payload: dict[str, float]  # {"value"} | {"min","max","sum","count"} | {"delta"}
    timestamp: int  # UTC milliseconds (the server's time when the line had none)
    raw: str = field(repr=False, compare=False, default="")


@dataclass(frozen=True)
class RecordedIngest:
    status: int | None  # None: the connection was dropped without an answer
    lines_ok: int
    lines_invalid: int
    body_bytes: int
    line_count: int
    headers: dict[str, str]


# -- the parser ----------------------------------------------------------------------------------
def _quoted_value(text: str, pos: int) -> tuple[str, int]:
    """``"..."`` from ``text[pos] == '"'``: backslash escapes ``"`` and ``\\``."""
    out: list[str] = []
    pos += 1
    while pos < len(text):
        char = text[pos]
        if char == "\\" and pos + 1 < len(text):
            following = text[pos + 1]
            out.append(following if following in '"\\' else char + following)
            pos += 2
            continue
        if char == '"':
            return "".join(out), pos + 1
        out.append(char)
        pos += 1
    raise LineError("a quoted dimension value is not closed")


def _plain_value(text: str, pos: int) -> tuple[str, int]:
    """An unquoted value up to an unescaped ``,`` or space; ``\\`` escapes the next character."""
    out: list[str] = []
    while pos < len(text):
        char = text[pos]
        if char == "\\" and pos + 1 < len(text):
            out.append(text[pos + 1])
            pos += 2
            continue
        if char in ", ":
            break
        if char == "=":
            raise LineError("an unquoted dimension value has an unescaped '='")
        out.append(char)
        pos += 1
    return "".join(out), pos


def _dimensions(text: str, pos: int) -> tuple[dict[str, str], int]:
    dimensions: dict[str, str] = {}
    count = 0
    while pos < len(text) and text[pos] == ",":
        end = pos + 1
        while end < len(text) and text[end] not in "=, ":
            end += 1
        key = text[pos + 1 : end]
        if end >= len(text) or text[end] != "=":
            raise LineError(f"dimension {key!r} has no '=value'")
        if not _DIMENSION_KEY.fullmatch(key) or len(key) > MAX_DIMENSION_KEY_LENGTH:
            raise LineError(
                f"dimension key {key!r} is invalid (lowercase letters, digits, '_', '-', '.', "
                f"':', starting with a letter or '_', at most {MAX_DIMENSION_KEY_LENGTH})"
            )
        pos = end + 1
        if pos < len(text) and text[pos] == '"':
            value, pos = _quoted_value(text, pos)
        else:
            value, pos = _plain_value(text, pos)
        if not value:
            raise LineError(f"dimension {key!r} has an empty value")
        if len(value) > MAX_DIMENSION_VALUE_LENGTH:
            raise LineError(
                f"dimension {key!r} value is {len(value)} characters, "
                f"over {MAX_DIMENSION_VALUE_LENGTH}"
            )
        if pos < len(text) and text[pos] not in ", ":
            raise LineError(f"unexpected {text[pos]!r} after the value of dimension {key!r}")
        count += 1
        if count > MAX_DIMENSIONS:
            raise LineError(f"more than {MAX_DIMENSIONS} dimensions")
        dimensions.setdefault(key, value)  # a repeated key: the first value counts
    return dimensions, pos


def _number(text: str, what: str) -> float:
    if not _NUMBER.fullmatch(text):
        raise LineError(f"{what} {text!r} is not a number")
    value = float(text)
    if not math.isfinite(value):
        raise LineError(f"{what} {text!r} is not finite")
    return value


def _fields(text: str, kind: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for part in text.split(","):
        name, equals, value = part.partition("=")
        if not equals or not name or name in fields:
            raise LineError(f"{kind} payload part {part!r} is not name=value (or is repeated)")
        fields[name] = value
    return fields


def _payload(token: str) -> tuple[str, dict[str, float]]:
    if _NUMBER.fullmatch(token):
        return "gauge", {"value": _number(token, "value")}
    kind, comma, rest = token.partition(",")
    if kind == "gauge" and comma:
        if _NUMBER.fullmatch(rest):
            return "gauge", {"value": _number(rest, "gauge value")}
        fields = _fields(rest, "gauge")
        if set(fields) != {"min", "max", "sum", "count"}:
            raise LineError("a gauge summary has exactly min=, max=, sum= and count=")
        if not fields["count"].isdigit() or int(fields["count"]) < 1:
            raise LineError(f"gauge count {fields['count']!r} is not a positive integer")
        summary = {name: _number(fields[name], f"gauge {name}") for name in ("min", "max", "sum")}
        if summary["min"] > summary["max"]:
            raise LineError("gauge min is greater than max")
        return "gauge", {**summary, "count": float(int(fields["count"]))}
    if kind == "count" and comma:
        fields = {} if _NUMBER.fullmatch(rest) else _fields(rest, "count")  # no absolute counts
        if set(fields) != {"delta"}:
            raise LineError("a count payload is count,delta=<number>")
        return "count", {"delta": _number(fields["delta"], "count delta")}
    raise LineError(f"payload {token!r} is neither a number, gauge,... nor count,delta=...")


def parse_line(text: str, now_ms: int | None = None) -> IngestedLine:
    """One line of the metric ingestion protocol; :class:`LineError` says what is wrong."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    line = text.rstrip("\r")
    end = 0
    while end < len(line) and line[end] not in ", ":
        end += 1
    key = line[:end]
    if not key:
        raise LineError("the line has no metric key")
    if not _KEY.fullmatch(key) or not 3 <= len(key) <= MAX_KEY_LENGTH:
        raise LineError(
            f"metric key {key!r} is invalid (dot-separated letters, digits, '_', '-'; "
            f"starting with a letter or '_'; 3 to {MAX_KEY_LENGTH} characters)"
        )
    if key.startswith("dt."):
        raise LineError(f"metric key {key!r}: the dt. prefix is reserved for Dynatrace")
    dimensions, pos = _dimensions(line, end)
    if pos >= len(line) or line[pos] != " ":
        raise LineError("no payload after the key and dimensions")
    parts = line[pos:].split()
    if len(parts) > 2:
        raise LineError(f"unexpected {' '.join(parts[2:])!r} after the timestamp")
    kind, payload = _payload(parts[0])
    timestamp = now_ms
    if len(parts) == 2:
        if not _TIMESTAMP.fullmatch(parts[1]):
            raise LineError(f"timestamp {parts[1]!r} is not UTC milliseconds")
        timestamp = int(parts[1])
        if timestamp < now_ms - PAST_LIMIT_MS:
            raise LineError(f"timestamp {timestamp} is more than an hour in the past")
        if timestamp > now_ms + FUTURE_LIMIT_MS:
            raise LineError(f"timestamp {timestamp} is more than 10 minutes in the future")
    return IngestedLine(key, dimensions, kind, payload, timestamp, raw=line)


def parse_body(
    body: str, now_ms: int | None = None
) -> tuple[list[IngestedLine], list[str], list[dict[str, Any]]]:
    """Data points, metadata lines (``#key ...``) and errors ``{"line": n, "error": why}``."""
    points: list[IngestedLine] = []
    metadata: list[str] = []
    errors: list[dict[str, Any]] = []
    for number, text in enumerate(body.split("\n"), start=1):
        if not text.strip():
            continue
        if text.startswith("#"):
            metadata.append(text)
            continue
        try:
            points.append(parse_line(text, now_ms))
        except LineError as exc:
            errors.append({"line": number, "error": str(exc)})
    return points, metadata, errors


# -- the server ----------------------------------------------------------------------------------
class DynatraceServer(LocalHttpServer):
    """``with DynatraceServer() as dt: ... dt.url ... dt.lines``; a context manager."""

    thread_name = "dynatrace"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        token: str = "dt0c01.sluice-local-token",  # noqa: S107 - a local stand-in's token
        clock: Callable[[], float] = time.time,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.token = token
        self.clock = clock
        self.max_body_bytes = max_body_bytes
        self.lines: list[IngestedLine] = []
        self.metadata: list[str] = []
        self.requests: list[RecordedIngest] = []
        self._faults: deque[tuple[int | None, float | None]] = deque()
        self._lock = threading.Lock()
        super().__init__(host, port, self._handler_class())

    @property
    def ingest_url(self) -> str:
        return self.url + INGEST_PATH

    # -- behaviour -------------------------------------------------------------------------
    def fail_next(
        self, n: int = 1, status: int | None = 503, retry_after: float | None = None
    ) -> None:
        """The next ``n`` requests get ``status`` (with Retry-After if given) before any line
        is looked at; ``status=None`` drops the connection without an answer."""
        with self._lock:
            self._faults.extend([(status, retry_after)] * n)

    def reset(self) -> None:
        with self._lock:
            self.lines.clear()
            self.metadata.clear()
            self.requests.clear()
            self._faults.clear()

    # -- observations ----------------------------------------------------------------------
    def find(self, key: str, **dimensions: str) -> list[IngestedLine]:
        """Data points of ``key`` whose dimensions include these."""
        with self._lock:
            return [
                line
                for line in self.lines
                if line.key == key
                and all(line.dimensions.get(k) == v for k, v in dimensions.items())
            ]

    # -- internals -------------------------------------------------------------------------
    def _fault(self) -> tuple[bool, int | None, float | None]:
        with self._lock:
            if self._faults:
                status, retry_after = self._faults.popleft()
                return True, status, retry_after
        return False, None, None

    def _ingest(self, body: bytes) -> tuple[int, dict[str, Any], int, int]:
        """(status, response, lines ok, lines invalid) for a body; records what was valid."""
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return 400, _error(400, "the payload is not UTF-8"), 0, 0
        points, metadata, errors = parse_body(text, int(self.clock() * 1000))
        ok, invalid = len(points) + len(metadata), len(errors)
        if not ok and not invalid:
            return 400, _error(400, "the payload has no lines"), 0, 0
        with self._lock:
            self.lines.extend(points)
            self.metadata.extend(metadata)
        response: dict[str, Any] = {
            "linesOk": ok,
            "linesInvalid": invalid,
            "error": None,
            "warnings": None,
        }
        if invalid:
            response["error"] = {
                "code": 400,
                "message": f"{invalid} invalid lines",
                "invalidLines": errors,
            }
        return (400 if not ok else 202), response, ok, invalid

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: tests read server.requests instead

            def _answer(
                self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
            ) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def _record(self, status: int | None, ok: int, invalid: int, body: bytes) -> None:
                with server._lock:
                    server.requests.append(
                        RecordedIngest(
                            status=status,
                            lines_ok=ok,
                            lines_invalid=invalid,
                            body_bytes=len(body),
                            line_count=len([x for x in body.split(b"\n") if x.strip()]),
                            headers=dict(self.headers.items()),
                        )
                    )

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                faulty, status, retry_after = server._fault()
                if faulty:
                    self._record(status, 0, 0, body)
                    if status is None:
                        self.close_connection = True
                        return
                    extra = {"Retry-After": str(int(retry_after))} if retry_after else None
                    self._answer(status, _error(status, "injected fault"), extra)
                    return
                status, response, ok, invalid = self._check(body)
                self._record(status, ok, invalid, body)
                self._answer(status, response)

            def _check(self, body: bytes) -> tuple[int, dict[str, Any], int, int]:
                if urlsplit(self.path).path != INGEST_PATH:
                    return 404, _error(404, f"no endpoint {self.path}"), 0, 0
                scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
                if scheme != "Api-Token" or not token:
                    return 401, _error(401, "Missing authorization parameter."), 0, 0
                if token != server.token:
                    return 401, _error(401, "Token Authentication failed"), 0, 0
                content_type = (self.headers.get("Content-Type") or "").lower()
                if not content_type.startswith("text/plain"):
                    return 415, _error(415, f"unsupported Content-Type {content_type!r}"), 0, 0
                if len(body) > server.max_body_bytes:
                    return 413, _error(413, "payload over 1 MB"), 0, 0
                return server._ingest(body)

            def do_GET(self) -> None:
                self._answer(404, _error(404, "only POST /api/v2/metrics/ingest is served"))

        return Handler


def _error(code: int, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}
