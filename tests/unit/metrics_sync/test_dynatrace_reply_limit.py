"""Dynatrace's answer is read to 64 KiB at most. Its counts come first, so an answer cut there
still gives them (its list of invalid lines is what runs long), with a warning that it was
cut; an error answer too long to parse says so."""

from __future__ import annotations

import json
from typing import Any

import pytest
import urllib3

from dynatrace_metrics import DynatraceUnavailable, Ingest, send_lines
from sluice_common.urls import REPLY_LIMIT

BIG = 8 * 1024 * 1024
TARGET = Ingest(
    url="https://abc12345.live.dynatrace.com/api/v2/metrics/ingest",
    token="dt0c01.token",
    token_source="secret arn:test",
    max_attempts=1,
)
LINES = [f'sluice.rows.sent.count,stack="s",n="{n}" count,delta=1' for n in range(1000)]


class CountingBody:
    """A socket-like body: ``head``, then ``filler`` repeated up to ``size`` bytes; counts what
    is read of it, and closes at its end as http.client's response does."""

    def __init__(self, head: bytes, filler: bytes, size: int) -> None:
        self.data = head + filler * ((size - len(head)) // len(filler) + 1)
        self.size = size
        self.read_bytes = 0
        self.closed = False

    def read(self, amt: int | None = None) -> bytes:
        n = self.size - self.read_bytes if amt is None else min(amt, self.size - self.read_bytes)
        start = self.read_bytes
        self.read_bytes += n
        self.closed = self.read_bytes >= self.size
        return self.data[start : start + n]

    read1 = read

    def close(self) -> None:
        self.closed = True


class Connection:
    closed = False

    def close(self) -> None:
        self.closed = True


class OneAnswerPool:
    """A PoolManager answering every request with ``status`` and a :class:`CountingBody`."""

    def __init__(self, status: int, head: bytes, filler: bytes, size: int = BIG) -> None:
        self.status, self.head, self.filler, self.size = status, head, filler, size
        self.bodies: list[CountingBody] = []
        self.connections: list[Connection] = []

    def request(self, method: str, url: str, **kwargs: Any) -> urllib3.HTTPResponse:
        body, connection = CountingBody(self.head, self.filler, self.size), Connection()
        self.bodies.append(body)
        self.connections.append(connection)
        return urllib3.HTTPResponse(
            body=body,
            headers={"Content-Type": "application/json;charset=utf-8"},
            status=self.status,
            preload_content=kwargs.get("preload_content", True),  # urllib3's default
            connection=connection,  # type: ignore[arg-type]
            pool=self,  # type: ignore[arg-type]
        )

    def _put_conn(self, connection: Connection) -> None:
        pass


def invalid_line(n: int) -> bytes:
    entry = {"line": n, "error": "invalid dimension value: " + "d" * 200}
    return json.dumps(entry).encode() + b","


def test_a_multi_megabyte_answer_is_read_to_64_kib_and_its_counts_kept() -> None:
    head = b'{"linesOk":400,"linesInvalid":600,"error":{"code":400,"message":"x","invalidLines":['
    pool = OneAnswerPool(202, head, invalid_line(1))
    report = send_lines(pool, TARGET, LINES, sleep=lambda _: None)
    [body], [connection] = pool.bodies, pool.connections
    assert body.read_bytes <= REPLY_LIMIT and connection.closed
    assert (report.lines_ok, report.lines_invalid) == (400, 600)
    [warning] = report.warnings
    assert warning.startswith("Dynatrace's answer to 1000 lines was not read in full")
    assert "linesOk=400, linesInvalid=600" in warning


def test_a_multi_megabyte_error_answer_is_read_to_64_kib_and_named_as_cut() -> None:
    pool = OneAnswerPool(503, b"<html>", b"<p>Service Unavailable</p>")
    with pytest.raises(DynatraceUnavailable) as raised:
        send_lines(pool, TARGET, LINES, sleep=lambda _: None)
    assert pool.bodies[0].read_bytes <= REPLY_LIMIT and pool.connections[0].closed
    assert str(raised.value).startswith("HTTP 503 from https://abc12345.live.dynatrace.com")
    assert f"longer than {REPLY_LIMIT} bytes; only those were read" in str(raised.value)
