"""Sending metric lines to the local Dynatrace over HTTP: the ingest URL, chunked requests,
retries with backoff, refusals, and no secret in any error."""

from __future__ import annotations

import time

import pytest
import urllib3

from dynatrace_errors import (
    DynatraceAuthError,
    DynatraceConfigError,
    DynatraceError,
    DynatraceUnavailable,
)
from dynatrace_ingest import INGEST_PATH, Ingest, ingest_url, send_lines
from sluice_local.servers.dynatrace import DynatraceServer

NOW_MS = int(time.time()) // 60 * 60_000  # data points are checked against the real clock
LINE = f'sluice.rows.sent.count,stack="sluice" count,delta=3 {NOW_MS}'


def ingest(server: DynatraceServer, token: str | None = None) -> Ingest:
    return Ingest(
        url=ingest_url(server.url), token=token or server.token, token_source="secret arn:test"
    )


@pytest.fixture
def pool() -> urllib3.PoolManager:
    return urllib3.PoolManager(retries=False)


# -- URL -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://abc12345.live.dynatrace.com", "https://abc12345.live.dynatrace.com"),
        ("https://abc12345.live.dynatrace.com/", "https://abc12345.live.dynatrace.com"),
        ("https://ag.example:9999/e/abc12345", "https://ag.example:9999/e/abc12345"),
        ("http://127.0.0.1:8123", "http://127.0.0.1:8123"),
        ("http://localhost:8123/api/v2/metrics/ingest", "http://localhost:8123"),
        ("http://127.0.0.2:8123", "http://127.0.0.2:8123"),  # all of 127.0.0.0/8 is loopback
        ("http://[::1]:8123", "http://[::1]:8123"),
    ],
)
def test_ingest_url_is_the_environment_url_plus_the_ingest_path(given: str, expected: str) -> None:
    assert ingest_url(given) == expected + "/api/v2/metrics/ingest"


@pytest.mark.parametrize("given", ["http://abc12345.live.dynatrace.com", "ftp://x", "", "https://"])
def test_ingest_url_refuses_plain_http_to_a_remote_host_and_empty(given: str) -> None:
    with pytest.raises(DynatraceConfigError, match="DYNATRACE_API_URL"):
        ingest_url(given)


@pytest.mark.parametrize(
    "given",
    [
        "https://us3r:pa55@abc12345.live.dynatrace.com",
        "https://us3r@abc12345.live.dynatrace.com",
        "http://us3r:pa55@127.0.0.1:8123",
        "https://us3r:pa?55@abc12345.live.dynatrace.com",  # urllib.parse: host us3r, a query
    ],
)
def test_ingest_url_refuses_userinfo_and_never_shows_it(given: str) -> None:
    with pytest.raises(DynatraceConfigError, match=r"DynatraceApiUrl.*userinfo") as refused:
        ingest_url(given)
    assert "us3r" not in str(refused.value) and "pa55" not in str(refused.value)


# -- chunked requests ------------------------------------------------------------------------
def test_many_lines_go_in_several_requests_each_within_limits(
    dynatrace: DynatraceServer, pool: urllib3.PoolManager, sleeps: list[float]
) -> None:
    lines = [
        f'sluice.rows.sent.count,stack="sluice",queue="q-{n}" count,delta=3 '
        f"{NOW_MS - n % 30 * 60_000}"
        for n in range(2300)
    ]
    report = send_lines(pool, ingest(dynatrace), lines, sleep=sleeps)
    assert (report.requests, report.lines_ok, report.lines_invalid) == (3, 2300, 0)
    assert [r.line_count for r in dynatrace.requests] == [1000, 1000, 300]
    assert all(r.body_bytes <= 1_000_000 for r in dynatrace.requests)
    assert len(dynatrace.find("sluice.rows.sent.count", stack="sluice")) == 2300
    assert dynatrace.requests[0].headers["Content-Type"] == "text/plain; charset=utf-8"
    assert sleeps == []


# -- sending -------------------------------------------------------------------------------------
def test_503s_are_retried_with_backoff_then_delivered_once(
    dynatrace: DynatraceServer, pool: urllib3.PoolManager, sleeps: list[float]
) -> None:
    dynatrace.fail_next(2, status=503)
    report = send_lines(pool, ingest(dynatrace), [LINE], sleep=sleeps)
    assert [r.status for r in dynatrace.requests] == [503, 503, 202]
    assert (report.requests, report.lines_ok) == (3, 1)
    assert len(sleeps) == 2
    assert len(dynatrace.lines) == 1


def test_retry_after_of_a_429_is_honoured(
    dynatrace: DynatraceServer, pool: urllib3.PoolManager, sleeps: list[float]
) -> None:
    dynatrace.fail_next(1, status=429, retry_after=7)
    send_lines(pool, ingest(dynatrace), [LINE], sleep=sleeps)
    assert sleeps[0] >= 7


def test_a_dropped_connection_is_retried(
    dynatrace: DynatraceServer, pool: urllib3.PoolManager, sleeps: list[float]
) -> None:
    dynatrace.fail_next(1, status=None)
    report = send_lines(pool, ingest(dynatrace), [LINE], sleep=sleeps)
    assert report.lines_ok == 1
    assert len(sleeps) == 1


def test_persistent_5xx_gives_up_after_the_last_attempt(
    dynatrace: DynatraceServer, pool: urllib3.PoolManager, sleeps: list[float]
) -> None:
    dynatrace.fail_next(5, status=500)
    with pytest.raises(DynatraceUnavailable, match=r"HTTP 500.*5 attempts"):
        send_lines(pool, ingest(dynatrace), [LINE], sleep=sleeps)
    assert len(sleeps) == 4
    assert all(s <= 20 for s in sleeps)


def test_an_unreachable_endpoint_gives_up_with_the_url(
    pool: urllib3.PoolManager, sleeps: list[float]
) -> None:
    with DynatraceServer() as gone:
        url, token = gone.url, gone.token
    target = Ingest(url=ingest_url(url), token=token, token_source="s", max_attempts=2)
    with pytest.raises(DynatraceUnavailable, match="cannot reach"):
        send_lines(pool, target, [LINE], sleep=sleeps)


def test_a_refused_token_names_where_it_came_from_and_is_not_retried(
    dynatrace: DynatraceServer, pool: urllib3.PoolManager, sleeps: list[float]
) -> None:
    with pytest.raises(DynatraceAuthError, match=r"secret arn:test.*401.*metrics\.ingest"):
        send_lines(pool, ingest(dynatrace, token="wrong"), [LINE], sleep=sleeps)
    assert len(dynatrace.requests) == 1
    assert sleeps == []


def test_invalid_lines_are_reported_with_dynatraces_reasons(
    dynatrace: DynatraceServer, pool: urllib3.PoolManager, sleeps: list[float]
) -> None:
    good = LINE
    lines = [good, "9bad.key count,delta=1", good]
    report = send_lines(pool, ingest(dynatrace), lines, sleep=sleeps)
    assert (report.lines_ok, report.lines_invalid) == (2, 1)
    assert report.invalid == [
        {"error": report.invalid[0]["error"], "line": "9bad.key count,delta=1"}
    ]
    assert "metric key" in report.invalid[0]["error"]


def test_a_request_where_every_line_is_invalid_gets_400_and_is_reported_not_retried(
    dynatrace: DynatraceServer, pool: urllib3.PoolManager, sleeps: list[float]
) -> None:
    report = send_lines(pool, ingest(dynatrace), ["sluice.x count,7"], sleep=sleeps)
    assert [r.status for r in dynatrace.requests] == [400]
    assert (report.lines_ok, report.lines_invalid) == (0, 1)
    assert sleeps == []


def test_a_wrong_path_is_an_error_that_points_at_the_url(
    dynatrace: DynatraceServer, pool: urllib3.PoolManager, sleeps: list[float]
) -> None:
    target = Ingest(url=dynatrace.url + "/wrong", token=dynatrace.token, token_source="s")
    with pytest.raises(DynatraceError, match=r"404.*DYNATRACE_API_URL"):
        send_lines(pool, target, [LINE], sleep=sleeps)


# -- secrets never in an error -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("token", "problem"),
    [
        ("dt0c01.ABC\r\nDEF.GHI", "has a line break inside it"),
        ("dt0c01.ABC\x00DEF.GHI", "has a control character inside it"),
        ("dt0c01.ABC\u20acDEF.GHI", "has a non-ASCII character inside it"),
    ],
)
def test_a_token_http_cannot_carry_is_refused_before_any_request_never_quoted(
    dynatrace: DynatraceServer,
    pool: urllib3.PoolManager,
    sleeps: list[float],
    token: str,
    problem: str,
) -> None:
    with pytest.raises(DynatraceConfigError) as raised:
        send_lines(pool, ingest(dynatrace, token), [LINE], sleep=sleeps)
    message = str(raised.value)
    assert f"the API token from secret arn:test {problem}" in message
    assert "ABC" not in message and "GHI" not in message
    assert dynatrace.requests == [] and sleeps == []


def test_a_token_with_a_trailing_newline_is_sent_stripped(
    dynatrace: DynatraceServer, pool: urllib3.PoolManager, sleeps: list[float]
) -> None:
    report = send_lines(pool, ingest(dynatrace, dynatrace.token + "\n"), [LINE], sleep=sleeps)
    assert report.lines_ok == 1


def test_url_userinfo_and_query_never_appear_in_an_error(
    pool: urllib3.PoolManager, sleeps: list[float]
) -> None:
    with DynatraceServer() as gone:
        url, token = gone.url, gone.token
    with_secrets = url.replace("http://", "http://us3r:pa55@")
    # ingest_url refuses userinfo (below); an Ingest built around it still names none.
    target = Ingest(url=with_secrets + INGEST_PATH, token=token, token_source="s", max_attempts=2)
    with pytest.raises(DynatraceUnavailable) as raised:
        send_lines(pool, target, [LINE], sleep=sleeps)
    assert str(raised.value).startswith(f"cannot reach {url}/api/v2/metrics/ingest: ")
    with pytest.raises(DynatraceConfigError) as refused:
        ingest_url("http://us3r:pa55@abc12345.live.dynatrace.com?k=qu3ry")
    for message in (str(raised.value), str(refused.value)):
        assert not any(secret in message for secret in ("us3r", "pa55", "qu3ry")), message
