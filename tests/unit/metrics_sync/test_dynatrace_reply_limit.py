"""Dynatrace's answer is read to 64 KiB at most. Its counts come first, so an answer cut there
still gives them (its list of invalid lines is what runs long), with a warning that it was
cut; an error answer too long to parse says so."""

from __future__ import annotations

import json

import pytest

from dynatrace_errors import DynatraceUnavailable
from dynatrace_ingest import Ingest, send_lines
from sluice_common.urls import REPLY_LIMIT
from testkit.fake_http import OneAnswerPool

BIG = 8 * 1024 * 1024
TARGET = Ingest(
    url="https://abc12345.live.dynatrace.com/api/v2/metrics/ingest",
    token="dt0c01.token",
    token_source="secret arn:test",
    max_attempts=1,
)
JSON = {"Content-Type": "application/json;charset=utf-8"}
LINES = [f'sluice.rows.sent.count,stack="s",n="{n}" count,delta=1' for n in range(1000)]


def invalid_line(n: int) -> bytes:
    entry = {"line": n, "error": "invalid dimension value: " + "d" * 200}
    return json.dumps(entry).encode() + b","


def test_a_multi_megabyte_answer_is_read_to_64_kib_and_its_counts_kept() -> None:
    head = b'{"linesOk":400,"linesInvalid":600,"error":{"code":400,"message":"x","invalidLines":['
    pool = OneAnswerPool(202, BIG, head=head, filler=invalid_line(1), headers=JSON)
    report = send_lines(pool, TARGET, LINES, sleep=lambda _: None)
    [body], [connection] = pool.bodies, pool.connections
    assert body.read_bytes <= REPLY_LIMIT and connection.closed
    assert (report.lines_ok, report.lines_invalid) == (400, 600)
    [warning] = report.warnings
    assert warning.startswith("Dynatrace's answer to 1000 lines was not read in full")
    assert "linesOk=400, linesInvalid=600" in warning


def test_a_multi_megabyte_error_answer_is_read_to_64_kib_and_named_as_cut() -> None:
    pool = OneAnswerPool(
        503, BIG, head=b"<html>", filler=b"<p>Service Unavailable</p>", headers=JSON
    )
    with pytest.raises(DynatraceUnavailable) as raised:
        send_lines(pool, TARGET, LINES, sleep=lambda _: None)
    assert pool.bodies[0].read_bytes <= REPLY_LIMIT and pool.connections[0].closed
    assert str(raised.value).startswith("HTTP 503 from https://abc12345.live.dynatrace.com")
    assert f"longer than {REPLY_LIMIT} bytes; only those were read" in str(raised.value)
