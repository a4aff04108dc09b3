"""HEC's answer is read to 64 KiB at most: its JSON code and text are parsed from that, and an
answer too long to parse says so in the error."""

from __future__ import annotations

import pytest

from hec import DeliveryFailed, HecEvent, HecRejected, HecSettings, post_batch
from sluice_common.urls import REPLY_LIMIT
from testkit.fake_http import OneAnswerPool

BIG = 8 * 1024 * 1024
URL = "https://splunk.example.com:8088/services/collector/event"
BATCH = [HecEvent("1", b'{"event":"ok"}')]
ONCE = HecSettings(max_attempts=1)
JSON = {"Content-Type": "application/json"}


def test_a_multi_megabyte_error_answer_is_read_to_64_kib_and_named_as_cut() -> None:
    pool = OneAnswerPool(503, BIG, headers=JSON, filler=b"<html>Service Unavailable</html>")
    with pytest.raises(DeliveryFailed) as raised:
        post_batch(pool, URL, "t", BATCH, ONCE, sleep=lambda _: None)  # type: ignore[arg-type]
    [body], [connection] = pool.bodies, pool.connections
    assert body.read_bytes <= REPLY_LIMIT and connection.closed
    assert "HTTP 503 '<html>Service Unavailable</html>" in str(raised.value)
    assert f"longer than {REPLY_LIMIT} bytes; only those were read" in str(raised.value)


def test_a_refusal_too_long_to_parse_says_so() -> None:
    # JSON that would name the code, cut before its end: the code is unknown, and said so.
    pool = OneAnswerPool(
        400,
        BIG,
        headers=JSON,
        filler=b'{"text":"Invalid data format","code":6,"padding":"' + b"p" * 64,
    )
    with pytest.raises(HecRejected) as raised:
        post_batch(pool, URL, "t", BATCH, ONCE, sleep=lambda _: None)  # type: ignore[arg-type]
    assert pool.bodies[0].read_bytes <= REPLY_LIMIT
    assert "only those were read" in str(raised.value)


def test_a_multi_megabyte_success_answer_is_read_to_64_kib() -> None:
    pool = OneAnswerPool(200, BIG, headers=JSON, filler=b'{"text":"Success","code":0}')
    assert post_batch(pool, URL, "t", BATCH, ONCE, sleep=lambda _: None) == 1  # type: ignore[arg-type]
    assert pool.bodies[0].read_bytes <= REPLY_LIMIT and pool.connections[0].closed
