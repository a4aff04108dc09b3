"""HEC's answer is read to 64 KiB at most: its JSON code and text are parsed from that, and an
answer too long to parse says so in the error."""

from __future__ import annotations

from typing import Any

import pytest
import urllib3

from hec import DeliveryFailed, HecEvent, HecRejected, HecSettings, post_batch
from sluice_common.urls import REPLY_LIMIT

BIG = 8 * 1024 * 1024
URL = "https://splunk.example.com:8088/services/collector/event"
BATCH = [HecEvent("1", b'{"event":"ok"}')]
ONCE = HecSettings(max_attempts=1)


class CountingBody:
    """A socket-like body of ``size`` bytes (``data`` repeated) that counts what is read of
    it, and closes at its end as http.client's response does."""

    def __init__(self, size: int, data: bytes) -> None:
        self.size, self.data = size, data
        self.read_bytes = 0
        self.closed = False

    def read(self, amt: int | None = None) -> bytes:
        n = self.size - self.read_bytes if amt is None else min(amt, self.size - self.read_bytes)
        start = self.read_bytes
        self.read_bytes += n
        self.closed = self.read_bytes >= self.size
        repeated = self.data * (start // len(self.data) + n // len(self.data) + 2)
        return repeated[start : start + n]

    read1 = read

    def close(self) -> None:
        self.closed = True


class Connection:
    closed = False

    def close(self) -> None:
        self.closed = True


class OneAnswerPool:
    """A PoolManager answering every request with ``status`` and ``size`` bytes of ``data``."""

    def __init__(self, status: int, data: bytes, size: int = BIG) -> None:
        self.status, self.data, self.size = status, data, size
        self.bodies: list[CountingBody] = []
        self.connections: list[Connection] = []

    def request(self, method: str, url: str, **kwargs: Any) -> urllib3.HTTPResponse:
        body, connection = CountingBody(self.size, self.data), Connection()
        self.bodies.append(body)
        self.connections.append(connection)
        return urllib3.HTTPResponse(
            body=body,
            headers={"Content-Type": "application/json"},
            status=self.status,
            preload_content=kwargs.get("preload_content", True),  # urllib3's default
            connection=connection,  # type: ignore[arg-type]
            pool=self,  # type: ignore[arg-type]
        )

    def _put_conn(self, connection: Connection) -> None:
        pass


def test_a_multi_megabyte_error_answer_is_read_to_64_kib_and_named_as_cut() -> None:
    pool = OneAnswerPool(503, b"<html>Service Unavailable</html>")
    with pytest.raises(DeliveryFailed) as raised:
        post_batch(pool, URL, "t", BATCH, ONCE, sleep=lambda _: None)  # type: ignore[arg-type]
    [body], [connection] = pool.bodies, pool.connections
    assert body.read_bytes <= REPLY_LIMIT and connection.closed
    assert "HTTP 503 '<html>Service Unavailable</html>" in str(raised.value)
    assert f"longer than {REPLY_LIMIT} bytes; only those were read" in str(raised.value)


def test_a_refusal_too_long_to_parse_says_so() -> None:
    # JSON that would name the code, cut before its end: the code is unknown, and said so.
    pool = OneAnswerPool(400, b'{"text":"Invalid data format","code":6,"padding":"' + b"p" * 64)
    with pytest.raises(HecRejected) as raised:
        post_batch(pool, URL, "t", BATCH, ONCE, sleep=lambda _: None)  # type: ignore[arg-type]
    assert pool.bodies[0].read_bytes <= REPLY_LIMIT
    assert "only those were read" in str(raised.value)


def test_a_multi_megabyte_success_answer_is_read_to_64_kib() -> None:
    pool = OneAnswerPool(200, b'{"text":"Success","code":0}')
    assert post_batch(pool, URL, "t", BATCH, ONCE, sleep=lambda _: None) == 1  # type: ignore[arg-type]
    assert pool.bodies[0].read_bytes <= REPLY_LIMIT and pool.connections[0].closed
