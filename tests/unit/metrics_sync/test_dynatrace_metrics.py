"""The sync's pieces: catalogue, window, queries, line protocol, chunking and sending.

Lines are checked by the local Dynatrace's own parser (sluice_local.servers.dynatrace), not by
comparing strings with what the code under test was written to produce.
"""

from __future__ import annotations

import itertools
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import urllib3

from dynatrace_metrics import (
    CLOUDWATCH_DIMENSION,
    INGEST_PATH,
    MAX_QUERIES_PER_CALL,
    METRICS,
    Datapoint,
    DynatraceAuthError,
    DynatraceConfigError,
    DynatraceError,
    DynatraceUnavailable,
    Ingest,
    Kind,
    Resources,
    Scope,
    Window,
    build_queries,
    chunks,
    fetch,
    format_line,
    format_number,
    ingest_url,
    send_lines,
    spec_for,
    sync,
    to_datapoints,
)
from sluice_local.servers.dynatrace import DynatraceServer, LineError, parse_line

NOW = datetime(2024, 1, 15, 10, 5, 17, tzinfo=UTC)
NOW_MS = int(time.time()) // 60 * 60_000  # data points are checked against the real clock
RESOURCES = Resources(
    stack="sluice",
    queues=("sluice-ObjectQueue-A", "sluice-PriorityQueue-B", "sluice-DLQ-C"),
    functions=("sluice-ProcessObject-1", "sluice-PlanBatch-2"),
    state_machine_arn="arn:aws:states:us-east-1:123456789012:stateMachine:sluice-drain",
)


def ingest(server: DynatraceServer, token: str | None = None) -> Ingest:
    return Ingest(
        url=ingest_url(server.url), token=token or server.token, token_source="secret arn:test"
    )


@pytest.fixture
def pool() -> urllib3.PoolManager:
    return urllib3.PoolManager(retries=False)


def point(minute: int = 0, **dims: str) -> Datapoint:
    dimensions = tuple({"stack": "sluice", **dims}.items())
    return Datapoint(
        "sluice.rows.sent.count", dimensions, "count,delta=3", NOW_MS - minute * 60_000
    )


# -- catalogue -----------------------------------------------------------------------------------
def test_every_catalogue_key_is_a_valid_dynatrace_metric_key_and_unique() -> None:
    keys = [spec.key for spec in METRICS]
    assert len(keys) == len(set(keys))
    for spec in METRICS:
        parsed = parse_line(f'{spec.key},stack="s",{spec.scope.value}="x" 1', NOW_MS)
        assert parsed.key == spec.key
        assert spec.key.startswith("sluice.")
        # Classic appends .count to count metrics without it: sent key == queried key.
        assert spec.key.endswith(".count") == (spec.kind is Kind.COUNT)


def test_catalogue_covers_the_pipeline_metrics() -> None:
    assert spec_for("ApproximateAgeOfOldestMessage", "AWS/SQS").kind is Kind.GAUGE
    assert spec_for("ExecutionThrottled", "AWS/States").scope is Scope.STATE_MACHINE
    assert spec_for("RowsSent").key == "sluice.rows.sent.count"
    assert spec_for("ObjectProcessingDuration").stats == (
        "Minimum",
        "Maximum",
        "Sum",
        "SampleCount",
    )
    with pytest.raises(KeyError, match="not synced"):
        spec_for("RowsSent", "AWS/SQS")
    assert spec_for("PaymentsRejected").key == "sluice.payments.rejected.count"
    assert spec_for("FailedEvents").key == "sluice.stream.events_failed.count"
    assert spec_for("ProcessingDuration").kind is Kind.GAUGE


# -- window --------------------------------------------------------------------------------------
def test_window_is_whole_minutes_behind_by_the_delay() -> None:
    window = Window.ending_before(NOW, period_s=300, delay_s=180)
    assert window.end == datetime(2024, 1, 15, 10, 2, tzinfo=UTC)
    assert window.start == datetime(2024, 1, 15, 9, 57, tzinfo=UTC)


def test_consecutive_runs_sync_contiguous_windows() -> None:
    windows = [
        Window.ending_before(NOW + timedelta(seconds=300 * n + jitter), 300, 180)
        for n, jitter in enumerate([0, 20, 5, 31, 12])
    ]
    for earlier, later in itertools.pairwise(windows):
        assert earlier.end == later.start


@pytest.mark.parametrize(
    ("period", "delay", "message"),
    [(90, 180, "whole number of minutes"), (300, -1, "negative"), (600, 3000, "hour")],
)
def test_window_settings_that_cannot_work_are_refused(
    period: int, delay: int, message: str
) -> None:
    with pytest.raises(DynatraceConfigError, match=message):
        Window.ending_before(NOW, period, delay)


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


# -- queries -------------------------------------------------------------------------------------
def test_queries_cover_every_metric_resource_and_statistic_with_valid_ids() -> None:
    queries, series = build_queries(RESOURCES)
    counts = sum(1 for s in METRICS if s.kind is Kind.COUNT for _ in RESOURCES.targets(s.scope))
    gauges = sum(1 for s in METRICS if s.kind is Kind.GAUGE for _ in RESOURCES.targets(s.scope))
    assert len(queries) == counts + 4 * gauges == len(series)
    assert all(q["Id"][0].islower() and q["Id"].replace("_", "").isalnum() for q in queries)
    depth = [
        q["MetricStat"]
        for q in queries
        if q["MetricStat"]["Metric"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
        and q["MetricStat"]["Metric"]["Dimensions"][0]["Value"] == "sluice-DLQ-C"
    ]
    assert sorted(m["Stat"] for m in depth) == ["Maximum", "Minimum", "SampleCount", "Sum"]
    assert {m["Period"] for m in depth} == {60}
    states = next(
        q for q in queries if q["MetricStat"]["Metric"]["MetricName"] == "ExecutionsFailed"
    )
    assert states["MetricStat"]["Metric"]["Dimensions"] == [
        {"Name": "StateMachineArn", "Value": RESOURCES.state_machine_arn}
    ]
    assert series[states["Id"]].dimension_value == "sluice-drain"
    rows = next(q for q in queries if q["MetricStat"]["Metric"]["MetricName"] == "RowsSent")
    assert rows["MetricStat"]["Metric"]["Namespace"] == "Sluice"
    assert rows["MetricStat"]["Metric"]["Dimensions"] == [{"Name": "service", "Value": "sluice"}]
    assert set(CLOUDWATCH_DIMENSION) == set(Scope)


class PagingCloudWatch:
    """GetMetricData that answers two values per query, one per page, as CloudWatch pages."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def get_metric_data(self, **request: Any) -> dict[str, Any]:
        self.calls.append(request)
        assert len(request["MetricDataQueries"]) <= MAX_QUERIES_PER_CALL
        page = 1 if request.get("NextToken") else 0
        start = request["StartTime"]
        results = [
            {
                "Id": q["Id"],
                "Timestamps": [start + timedelta(minutes=page)],
                "Values": [float(page + 1)],
                "StatusCode": "PartialData" if page == 0 else "Complete",
            }
            for q in request["MetricDataQueries"]
        ]
        return {"MetricDataResults": results, **({"NextToken": "more"} if page == 0 else {})}


def test_fetch_sends_at_most_500_queries_a_call_and_follows_next_token() -> None:
    many = Resources(stack="s", functions=tuple(f"fn-{n}" for n in range(60)))
    queries, series = build_queries(many)
    assert len(queries) > MAX_QUERIES_PER_CALL
    window = Window.ending_before(NOW, 300, 180)
    cloudwatch = PagingCloudWatch()
    fetched = fetch(cloudwatch, queries, window, series)
    assert fetched.calls == len(cloudwatch.calls) == 4  # two chunks, two pages each
    assert all(len(values) == 2 for values in fetched.values.values())
    assert len(fetched.values) == len(queries)


# -- CloudWatch results -> data points -----------------------------------------------------------
def _series_ids(metric: str, value: str) -> dict[str, str]:
    _, series = build_queries(RESOURCES)
    return {
        s.stat: q_id
        for q_id, s in series.items()
        if s.spec.name == metric and s.dimension_value == value
    }


def test_counts_become_deltas_and_gauges_summaries_per_minute() -> None:
    _, series = build_queries(RESOURCES)
    minute = datetime(2024, 1, 15, 9, 58, tzinfo=UTC)
    sent = _series_ids("NumberOfMessagesSent", "sluice-ObjectQueue-A")
    depth = _series_ids("ApproximateNumberOfMessagesVisible", "sluice-ObjectQueue-A")
    fetched = {
        sent["Sum"]: [(minute, 7.0), (minute + timedelta(minutes=1), 0.0)],
        depth["Minimum"]: [(minute, 2.0)],
        depth["Maximum"]: [(minute, 9.5)],
        depth["Sum"]: [(minute, 11.5)],
        depth["SampleCount"]: [(minute, 2.0)],
    }
    lines = [
        parse_line(format_line(p), int(minute.timestamp() * 1000))
        for p in to_datapoints(fetched, series, "sluice")
    ]
    counts = [x for x in lines if x.kind == "count"]
    assert [x.payload for x in counts] == [{"delta": 7.0}, {"delta": 0.0}]
    assert counts[0].key == "sluice.queue.messages_sent.count"
    assert counts[0].dimensions == {"stack": "sluice", "queue": "sluice-ObjectQueue-A"}
    assert counts[0].timestamp == int(minute.timestamp() * 1000)
    [gauge] = [x for x in lines if x.kind == "gauge"]
    assert gauge.key == "sluice.queue.messages_visible"
    assert gauge.payload == {"min": 2.0, "max": 9.5, "sum": 11.5, "count": 2.0}


def test_minutes_without_data_or_with_partial_statistics_are_skipped() -> None:
    _, series = build_queries(RESOURCES)
    minute = datetime(2024, 1, 15, 9, 58, tzinfo=UTC)
    depth = _series_ids("ApproximateNumberOfMessagesVisible", "sluice-ObjectQueue-A")
    sent = _series_ids("NumberOfMessagesSent", "sluice-ObjectQueue-A")
    fetched = {
        depth["Minimum"]: [(minute, 1.0)],  # no Maximum/Sum/SampleCount for that minute
        depth["Maximum"]: [(minute + timedelta(minutes=1), 3.0)],
        sent["Sum"]: [(minute, float("nan"))],
        "unknown": [(minute, 1.0)],
    }
    assert to_datapoints(fetched, series, "sluice") == []


@pytest.mark.parametrize(
    ("value", "text"),
    [(3.0, "3"), (0.25, "0.25"), (1e-8, "0.00000001"), (1e20, "100000000000000000000"), (-2, "-2")],
)
def test_numbers_are_written_without_exponents(value: float, text: str) -> None:
    assert format_number(value) == text


# -- line protocol escaping ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    [
        "with space",
        "a,b",
        'say "hi"',
        "x=y",
        "back\\slash",
        "trailing\\",
        "ünïcødé ✓ 日本",
        '",= \\ all of them',
    ],
)
def test_odd_dimension_values_arrive_intact(value: str) -> None:
    line = format_line(point(queue=value))
    parsed = parse_line(line, NOW_MS)
    assert parsed.dimensions == {"stack": "sluice", "queue": value}
    assert parsed.payload == {"delta": 3.0}


def test_control_characters_become_underscores_and_long_values_are_cut() -> None:
    parsed = parse_line(format_line(point(queue="two\nlines\tand\x00nul")), NOW_MS)
    assert parsed.dimensions["queue"] == "two_lines_and_nul"
    parsed = parse_line(format_line(point(queue="é" * 300)), NOW_MS)
    assert parsed.dimensions["queue"] == "é" * 250


def test_the_local_parser_refuses_what_dynatrace_refuses() -> None:
    for bad, why in [
        ("1metric gauge,1", "metric key"),
        ("dt.mine gauge,1", "reserved"),
        ('sluice.x,Stack="a" gauge,1', "dimension key"),
        ('sluice.x,stack="a gauge,1', "not closed"),
        ("sluice.x count,5", "delta"),
        ("sluice.x gauge,min=1,max=0,sum=1,count=1", "greater"),
        ("sluice.x gauge,min=1,max=2,sum=1,count=0", "positive"),
        (f"sluice.x gauge,1 {NOW_MS - 3_700_000}", "hour"),
        ("sluice.x gauge,1 1705312800", "hour"),  # seconds, not milliseconds
        ("sluice.x", "payload"),
    ]:
        with pytest.raises(LineError, match=why):
            parse_line(bad, NOW_MS)
    unquoted = parse_line(r"sluice.x,queue=a\ b\,c gauge,2", NOW_MS)
    assert unquoted.dimensions == {"queue": "a b,c"}
    assert unquoted.payload == {"value": 2.0}


# -- chunking ------------------------------------------------------------------------------------
def test_chunks_respect_the_line_and_byte_limits() -> None:
    lines = [f'sluice.x,n="{n}" count,delta=1' for n in range(2500)]
    assert [len(c) for c in chunks(lines)] == [1000, 1000, 500]
    small = list(chunks(lines[:50], max_bytes=300))
    assert all(sum(len(x) + 1 for x in c) <= 300 for c in small)
    assert [x for c in small for x in c] == lines[:50]
    with pytest.raises(ValueError, match="exceeds"):
        list(chunks(["x" * 400], max_bytes=300))


def test_many_lines_go_in_several_requests_each_within_limits(
    dynatrace: DynatraceServer, pool: urllib3.PoolManager, sleeps: list[float]
) -> None:
    lines = [format_line(point(minute=n % 30, queue=f"q-{n}")) for n in range(2300)]
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
    report = send_lines(pool, ingest(dynatrace), [format_line(point())], sleep=sleeps)
    assert [r.status for r in dynatrace.requests] == [503, 503, 202]
    assert (report.requests, report.lines_ok) == (3, 1)
    assert len(sleeps) == 2
    assert len(dynatrace.lines) == 1


def test_retry_after_of_a_429_is_honoured(
    dynatrace: DynatraceServer, pool: urllib3.PoolManager, sleeps: list[float]
) -> None:
    dynatrace.fail_next(1, status=429, retry_after=7)
    send_lines(pool, ingest(dynatrace), [format_line(point())], sleep=sleeps)
    assert sleeps[0] >= 7


def test_a_dropped_connection_is_retried(
    dynatrace: DynatraceServer, pool: urllib3.PoolManager, sleeps: list[float]
) -> None:
    dynatrace.fail_next(1, status=None)
    report = send_lines(pool, ingest(dynatrace), [format_line(point())], sleep=sleeps)
    assert report.lines_ok == 1
    assert len(sleeps) == 1


def test_persistent_5xx_gives_up_after_the_last_attempt(
    dynatrace: DynatraceServer, pool: urllib3.PoolManager, sleeps: list[float]
) -> None:
    dynatrace.fail_next(5, status=500)
    with pytest.raises(DynatraceUnavailable, match=r"HTTP 500.*5 attempts"):
        send_lines(pool, ingest(dynatrace), [format_line(point())], sleep=sleeps)
    assert len(sleeps) == 4
    assert all(s <= 20 for s in sleeps)


def test_an_unreachable_endpoint_gives_up_with_the_url(
    pool: urllib3.PoolManager, sleeps: list[float]
) -> None:
    with DynatraceServer() as gone:
        url, token = gone.url, gone.token
    target = Ingest(url=ingest_url(url), token=token, token_source="s", max_attempts=2)
    with pytest.raises(DynatraceUnavailable, match="cannot reach"):
        send_lines(pool, target, [format_line(point())], sleep=sleeps)


def test_a_refused_token_names_where_it_came_from_and_is_not_retried(
    dynatrace: DynatraceServer, pool: urllib3.PoolManager, sleeps: list[float]
) -> None:
    with pytest.raises(DynatraceAuthError, match=r"secret arn:test.*401.*metrics\.ingest"):
        send_lines(pool, ingest(dynatrace, token="wrong"), [format_line(point())], sleep=sleeps)
    assert len(dynatrace.requests) == 1
    assert sleeps == []


def test_invalid_lines_are_reported_with_dynatraces_reasons(
    dynatrace: DynatraceServer, pool: urllib3.PoolManager, sleeps: list[float]
) -> None:
    good = format_line(point())
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
        send_lines(pool, target, [format_line(point())], sleep=sleeps)


# -- the whole run -------------------------------------------------------------------------------
def test_sync_drops_data_points_dynatrace_would_refuse_as_too_old(
    pool: urllib3.PoolManager, sleeps: list[float]
) -> None:
    window = Window.ending_before(NOW, 300, 180)
    small = Resources(stack="sluice", service="sluice")
    # Now is an hour after the window's first minute: that minute is too old, the next is not.
    now = window.start.timestamp() + 3600 - 60
    with DynatraceServer(clock=lambda: now) as dynatrace:
        report = sync(
            PagingCloudWatch(),
            pool,
            small,
            ingest(dynatrace),
            window,
            clock=lambda: now,
            sleep=sleeps,
            rng=random.Random(1),
        )
    assert report.too_old > 0
    assert report.datapoints > 0
    assert report.ingest.lines_invalid == 0
    assert {line.timestamp for line in dynatrace.lines} == {
        int((window.start + timedelta(minutes=1)).timestamp() * 1000)
    }


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
        send_lines(pool, ingest(dynatrace, token), [format_line(point())], sleep=sleeps)
    message = str(raised.value)
    assert f"the API token from secret arn:test {problem}" in message
    assert "ABC" not in message and "GHI" not in message
    assert dynatrace.requests == [] and sleeps == []


def test_a_token_with_a_trailing_newline_is_sent_stripped(
    dynatrace: DynatraceServer, pool: urllib3.PoolManager, sleeps: list[float]
) -> None:
    report = send_lines(
        pool, ingest(dynatrace, dynatrace.token + "\n"), [format_line(point())], sleep=sleeps
    )
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
        send_lines(pool, target, [format_line(point())], sleep=sleeps)
    assert str(raised.value).startswith(f"cannot reach {url}/api/v2/metrics/ingest: ")
    with pytest.raises(DynatraceConfigError) as refused:
        ingest_url("http://us3r:pa55@abc12345.live.dynatrace.com?k=qu3ry")
    for message in (str(raised.value), str(refused.value)):
        assert not any(secret in message for secret in ("us3r", "pa55", "qu3ry")), message
