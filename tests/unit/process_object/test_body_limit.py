"""The downstream's answer is read to 64 KiB at most: only its status is used, and a longer body
leaves with its connection closed rather than pooled half-read."""

from __future__ import annotations

import pytest

from downstream import HttpDownstream
from sluice_common.urls import REPLY_LIMIT
from testkit.fake_http import OneAnswerPool

BIG = 8 * 1024 * 1024


@pytest.mark.parametrize("status", [200, 503, 400])
def test_a_multi_megabyte_answer_is_read_to_64_kib_and_its_connection_closed(
    status: int,
) -> None:
    pool = OneAnswerPool(status, BIG, headers={"Content-Length": str(BIG)})
    api = HttpDownstream("https://api.example.com/rows", 5.0, pool=pool)
    assert api.post(b'{"row": 1}', {}).status == status
    [body], [connection] = pool.bodies, pool.connections
    assert body.read_bytes <= REPLY_LIMIT
    assert connection.closed  # what was left unread would be the next request's answer


def test_a_short_answer_is_read_whole_and_its_connection_pooled() -> None:
    pool = OneAnswerPool(200, 100, headers={"Content-Length": "100"})
    HttpDownstream("https://api.example.com/rows", 5.0, pool=pool).post(b"{}", {})
    [body], [connection] = pool.bodies, pool.connections
    assert body.read_bytes == 100 and pool.pooled == [connection] and not connection.closed
