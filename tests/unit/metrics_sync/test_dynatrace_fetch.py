"""The sync's reading side: the catalogue's synced metrics, the window, the GetMetricData
queries, CloudWatch's answers turned into data points, and the whole run.

Lines are checked by the local Dynatrace's own parser (sluice_local.servers.dynatrace), not by
comparing strings with what the code under test was written to produce.
"""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import urllib3

from dynatrace_errors import DynatraceConfigError
from dynatrace_fetch import (
    MAX_QUERIES_PER_CALL,
    Resources,
    Series,
    Window,
    build_queries,
    fetch,
)
from dynatrace_ingest import Ingest, ingest_url
from dynatrace_lines import format_line, to_datapoints
from dynatrace_sync import sync
from sluice_common.metric_catalogue import CLOUDWATCH_DIMENSION, SYNCED, Kind, Scope, spec_for
from sluice_local.servers.dynatrace import DynatraceServer, parse_line

NOW = datetime(2024, 1, 15, 10, 5, 17, tzinfo=UTC)
NOW_MS = int(datetime.now(UTC).timestamp()) // 60 * 60_000  # checked against the real clock
RESOURCES = Resources(
    stack="sluice",
    queues=("sluice-ObjectQueue-A", "sluice-PriorityQueue-B", "sluice-DLQ-C"),
    functions=("sluice-ProcessObject-1", "sluice-PlanBatch-2"),
    state_machine_arn="arn:aws:states:us-east-1:123456789012:stateMachine:sluice-drain",
)


# -- catalogue -----------------------------------------------------------------------------------
def test_every_catalogue_key_is_a_valid_dynatrace_metric_key_and_unique() -> None:
    keys = [spec.key for spec in SYNCED]
    assert len(keys) == len(set(keys))
    for spec in SYNCED:
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


# -- queries -------------------------------------------------------------------------------------
def test_queries_cover_every_metric_resource_and_statistic_with_valid_ids() -> None:
    queries, series = build_queries(RESOURCES)
    counts = sum(1 for s in SYNCED if s.kind is Kind.COUNT for _ in RESOURCES.targets(s.scope))
    gauges = sum(1 for s in SYNCED if s.kind is Kind.GAUGE for _ in RESOURCES.targets(s.scope))
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
    assert {s.scope for s in SYNCED} <= {
        Scope.QUEUE,
        Scope.FUNCTION,
        Scope.STATE_MACHINE,
        Scope.SERVICE,
    }


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
MINUTE = datetime(2024, 1, 15, 9, 58, tzinfo=UTC)


def _queue_series() -> tuple[dict[str, Series], dict[str, str], dict[str, str]]:
    """All series, and the query ids (by statistic) of ObjectQueue's messages sent and depth."""
    _, series = build_queries(RESOURCES)

    def ids(metric: str) -> dict[str, str]:
        return {
            s.stat: q_id
            for q_id, s in series.items()
            if s.spec.name == metric and s.dimension_value == "sluice-ObjectQueue-A"
        }

    return series, ids("NumberOfMessagesSent"), ids("ApproximateNumberOfMessagesVisible")


def test_counts_become_deltas_and_gauges_summaries_per_minute() -> None:
    series, sent, depth = _queue_series()
    minute = MINUTE
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
    series, sent, depth = _queue_series()
    minute = MINUTE
    fetched = {
        depth["Minimum"]: [(minute, 1.0)],  # no Maximum/Sum/SampleCount for that minute
        depth["Maximum"]: [(minute + timedelta(minutes=1), 3.0)],
        sent["Sum"]: [(minute, float("nan"))],
        "unknown": [(minute, 1.0)],
    }
    assert to_datapoints(fetched, series, "sluice") == []


# -- the whole run -------------------------------------------------------------------------------
def test_sync_drops_data_points_dynatrace_would_refuse_as_too_old(sleeps: list[float]) -> None:
    window = Window.ending_before(NOW, 300, 180)
    small = Resources(stack="sluice", service="sluice")
    # Now is an hour after the window's first minute: that minute is too old, the next is not.
    now = window.start.timestamp() + 3600 - 60
    with DynatraceServer(clock=lambda: now) as dynatrace:
        report = sync(
            PagingCloudWatch(),
            urllib3.PoolManager(retries=False),
            small,
            Ingest(ingest_url(dynatrace.url), dynatrace.token, "secret arn:test"),
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
