"""The downstream's answer is read to 64 KiB at most: only its status is used, and a longer body
leaves with its connection closed rather than pooled half-read."""

from __future__ import annotations

from typing import Any

import pytest
import urllib3

from downstream import HttpDownstream
from sluice_common.urls import REPLY_LIMIT

BIG = 8 * 1024 * 1024


class CountingBody:
    """A socket-like body of ``size`` bytes that counts what is read of it, and closes at its
    end as http.client's response does."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.read_bytes = 0
        self.closed = False

    def read(self, amt: int | None = None) -> bytes:
        n = self.size - self.read_bytes if amt is None else min(amt, self.size - self.read_bytes)
        self.read_bytes += n
        self.closed = self.read_bytes >= self.size
        return b"x" * n

    read1 = read

    def close(self) -> None:
        self.closed = True


class Connection:
    closed = False

    def close(self) -> None:
        self.closed = True


class OneAnswerPool:
    """A PoolManager answering every request with ``status`` and a body of ``size`` bytes."""

    def __init__(self, status: int, size: int) -> None:
        self.status, self.size = status, size
        self.bodies: list[CountingBody] = []
        self.connections: list[Connection] = []
        self.pooled: list[Connection] = []

    def request(self, method: str, url: str, **kwargs: Any) -> urllib3.HTTPResponse:
        body, connection = CountingBody(self.size), Connection()
        self.bodies.append(body)
        self.connections.append(connection)
        return urllib3.HTTPResponse(
            body=body,
            headers={"Content-Length": str(self.size)},
            status=self.status,
            preload_content=kwargs.get("preload_content", True),  # urllib3's default
            connection=connection,  # type: ignore[arg-type]
            pool=self,  # type: ignore[arg-type]
        )

    def _put_conn(self, connection: Connection) -> None:
        self.pooled.append(connection)


@pytest.mark.parametrize("status", [200, 503, 400])
def test_a_multi_megabyte_answer_is_read_to_64_kib_and_its_connection_closed(
    status: int,
) -> None:
    pool = OneAnswerPool(status, BIG)
    api = HttpDownstream("https://api.example.com/rows", 5.0, pool=pool)
    assert api.post(b'{"row": 1}', {}).status == status
    [body], [connection] = pool.bodies, pool.connections
    assert body.read_bytes <= REPLY_LIMIT
    assert connection.closed  # what was left unread would be the next request's answer


def test_a_short_answer_is_read_whole_and_its_connection_pooled() -> None:
    pool = OneAnswerPool(200, 100)
    HttpDownstream("https://api.example.com/rows", 5.0, pool=pool).post(b"{}", {})
    [body], [connection] = pool.bodies, pool.connections
    assert body.read_bytes == 100 and pool.pooled == [connection] and not connection.closed
