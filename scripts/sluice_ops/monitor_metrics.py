"""What `sluice monitor` reads from CloudWatch: one GetMetricData call for every figure (queue
age, the drain's executions, ProcessObject's concurrency, throttles and errors, the pipeline's
EMF metrics), ListMetrics to tell "no data yet" from "never published here", and the figures
taken from them (see :mod:`sluice_ops.monitor`)."""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sluice_ops.catalogue import metric_catalogue as catalogue
from sluice_ops.context import StackContext
from sluice_ops.monitor_resources import QUEUES, queue_name, why

PERIOD_S = 60  # CloudWatch's standard resolution
# ListMetrics answers "never published" for at most this long before it is asked again.
MISSING_METRIC_TTL_S = 60
NEVER_PUBLISHED = (
    "never published to CloudWatch here (AWS publishes it once the resource is used; an "
    "emulator may publish only some metrics)"
)


@dataclass(frozen=True)
class Query:
    id: str
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    stat: str

    def __post_init__(self) -> None:
        # Every metric read here is one the catalogue lists (MetricNotCatalogued otherwise).
        own = self.namespace == catalogue.PIPELINE_NAMESPACE
        catalogue.metric(self.name, None if own else self.namespace)

    def metric(self) -> dict[str, Any]:
        return {
            "Namespace": self.namespace,
            "MetricName": self.name,
            "Dimensions": [{"Name": k, "Value": v} for k, v in self.dimensions],
        }

    def label(self) -> str:
        dims = ", ".join(f"{k}={v}" for k, v in self.dimensions)
        return f"{self.namespace} {self.name} ({dims})"


class Metrics:
    """One GetMetricData call for every figure, and ListMetrics to tell "no data yet" (the
    metric exists: zero or not yet published) from "never published here"."""

    def __init__(
        self,
        cloudwatch: Any,
        queries: list[Query],
        window_s: int,
        now: float,
        seen: dict[Any, Any] | None = None,
    ):
        self.cloudwatch, self.now = cloudwatch, now
        self.seen = {} if seen is None else seen  # (label, stat) -> (exists, when asked)
        self.queries = {q.id: q for q in queries}
        start = math.floor((now - window_s) / PERIOD_S) * PERIOD_S
        self.values: dict[str, list[tuple[float, float]]] = {q.id: [] for q in queries}
        kwargs: dict[str, Any] = {
            "MetricDataQueries": [
                {
                    "Id": q.id,
                    "MetricStat": {"Metric": q.metric(), "Period": PERIOD_S, "Stat": q.stat},
                    "ReturnData": True,
                }
                for q in queries
            ],
            "StartTime": datetime.fromtimestamp(start, UTC),
            "EndTime": datetime.fromtimestamp(now + PERIOD_S, UTC),
            "ScanBy": "TimestampDescending",
        }
        while True:
            response = cloudwatch.get_metric_data(**kwargs)
            for result in response.get("MetricDataResults", []):
                self.values[result["Id"]] += [
                    (t.timestamp(), float(v))
                    for t, v in zip(
                        result.get("Timestamps", []), result.get("Values", []), strict=True
                    )
                ]
            if not response.get("NextToken"):
                break
            kwargs["NextToken"] = response["NextToken"]
        for points in self.values.values():
            points.sort(reverse=True)  # newest first
        self._exists: dict[str, bool] = {}

    def exists(self, query_id: str) -> bool:
        if query_id in self._exists:
            return self._exists[query_id]
        q = self.queries[query_id]
        # Across readings: a metric once seen stays; "never published" is asked again later.
        key = ("metric", q.label(), q.stat)
        seen, at = self.seen.get(key, (False, None))
        if not seen and (at is None or time.monotonic() - at > MISSING_METRIC_TTL_S):
            seen = bool(self.cloudwatch.list_metrics(**q.metric()).get("Metrics"))
            self.seen[key] = (seen, time.monotonic())
        self._exists[query_id] = seen
        return seen

    def missing(self, query_id: str) -> str:
        return f"{self.queries[query_id].label()}: {NEVER_PUBLISHED}"

    def total(self, query_id: str) -> float | None:
        """Sum over the window: 0 if the metric exists without data, None if it never did."""
        points = self.values[query_id]
        if points:
            return sum(v for _, v in points)
        return 0.0 if self.exists(query_id) else None

    def peak(self, query_id: str) -> float | None:
        points = self.values[query_id]
        if points:
            return max(v for _, v in points)
        return 0.0 if self.exists(query_id) else None

    def latest(self, query_id: str) -> float | None:
        points = self.values[query_id]
        return points[0][1] if points else None

    def rate(self, query_id: str) -> float | None:
        """Per second over the current minute and the one before (a 60-120 s average)."""
        since = (math.floor(self.now / PERIOD_S) - 1) * PERIOD_S
        recent = [v for t, v in self.values[query_id] if t >= since]
        if not recent and not self.exists(query_id):
            return None
        return sum(recent) / max(self.now - since, 1.0)


def queries(ctx: StackContext) -> list[Query]:
    function = ctx.output("ProcessObjectFunctionName")
    machine = ctx.output("DrainStateMachineArn")
    service = (("service", "sluice"),)
    queries = [
        Query(f"age{n}", "AWS/SQS", "ApproximateAgeOfOldestMessage",
               (("QueueName", queue_name(ctx.output(output))),), "Maximum")
        for n, output in enumerate(QUEUES.values())
    ]  # fmt: skip
    drain, fn = (("StateMachineArn", machine),), (("FunctionName", function),)
    own = catalogue.PIPELINE_NAMESPACE
    queries += [
        Query("started", "AWS/States", "ExecutionsStarted", drain, "Sum"),
        Query("failed", "AWS/States", "ExecutionsFailed", drain, "Sum"),
        Query("timedout", "AWS/States", "ExecutionsTimedOut", drain, "Sum"),
        Query("concurrency", "AWS/Lambda", "ConcurrentExecutions", fn, "Maximum"),
        Query("throttles", "AWS/Lambda", "Throttles", fn, "Sum"),
        Query("errors", "AWS/Lambda", "Errors", fn, "Sum"),
        Query("invocations", "AWS/Lambda", "Invocations", fn, "Sum"),
        Query("rowssent", own, "RowsSent", service, "Sum"),
        Query("rowsfailed", own, "RowsFailed", service, "Sum"),
        Query("latencysum", own, "DownstreamLatency", service, "Sum"),
        Query("latencycount", own, "DownstreamLatency", service, "SampleCount"),
    ]
    return queries


def from_metrics(
    ctx: StackContext,
    snap: dict[str, Any],
    gaps: dict[str, str],
    m: Metrics,
    now: float,
    window_s: int,
) -> None:
    for n, name in enumerate(QUEUES):
        queue = snap["queues"][name]
        age = m.latest(f"age{n}")
        if age is not None:
            queue["oldest_age_s"] = age
        elif queue["visible"] == 0 and queue["in_flight"] == 0:
            queue["oldest_age_s"] = 0.0  # empty: SQS publishes no age for an idle queue
        elif m.exists(f"age{n}"):
            gaps[f"queues.{name}.oldest_age_s"] = (
                f"no datapoint in the last {window_s} s yet (SQS publishes it once a minute)"
            )
        else:
            gaps[f"queues.{name}.oldest_age_s"] = m.missing(f"age{n}")
    executions = drains(ctx, m, now - window_s)
    if isinstance(executions, str):
        gaps["drains"] = executions
    else:
        snap["drains"].update(executions)
    po = snap["process_object"]
    for key, query, read in (
        ("concurrency", "concurrency", m.latest),
        ("peak_concurrency", "concurrency", m.peak),
        ("throttles", "throttles", m.total),
        ("errors", "errors", m.total),
    ):
        value = read(query)
        if value is None and key == "concurrency" and m.exists(query):
            value = 0.0  # no invocation in the window
        if value is None and key in ("throttles", "errors") and m.exists("invocations"):
            # Invoked, yet CloudWatch never had a Throttles (Errors) datapoint for it: there
            # were none, whether or not Lambda publishes zeros.
            value = 0.0
        if value is None:
            gaps[f"process_object.{key}"] = m.missing(query)
        else:
            po[key] = int(value)
    rate = m.rate("rowssent")
    if rate is None:
        gaps["rows_per_s"] = m.missing("rowssent")
    else:
        snap["rows_per_s"] = round(rate, 3)
    sent, failed = m.total("rowssent"), m.total("rowsfailed")
    if sent is None and failed is None:
        gaps["downstream.failure_rate"] = m.missing("rowssent")
    elif not (sent or 0) + (failed or 0):
        gaps["downstream.failure_rate"] = f"no rows sent or failed in the last {window_s} s"
    else:
        snap["downstream"]["failure_rate"] = round((failed or 0) / ((sent or 0) + (failed or 0)), 4)
    total, count = m.total("latencysum"), m.total("latencycount")
    if total is None:
        gaps["downstream.latency_ms"] = m.missing("latencysum")
    elif not count:
        gaps["downstream.latency_ms"] = f"no downstream call in the last {window_s} s"
    else:
        snap["downstream"]["latency_ms"] = round(total / count, 1)


def drains(ctx: StackContext, m: Metrics, since_epoch: float) -> dict[str, Any] | str:
    """The drain's executions started since then (CloudWatch's figures, else ListExecutions'), or
    why there are none."""
    names = {"started": "started", "failed": "failed", "timed_out": "timedout"}
    counts = {key: m.total(query) for key, query in names.items()}
    if any(v is not None for v in counts.values()):
        return {**{k: int(v or 0) for k, v in counts.items()}, "source": "cloudwatch"}
    # CloudWatch has no drain metrics: an emulator, or a drain that never ran. ListExecutions
    # lists Standard executions only (AWS refuses it for Express), so this is a fallback.
    sfn = ctx.client("stepfunctions")
    since = datetime.fromtimestamp(since_epoch, UTC)
    found: Counter[str] = Counter()
    try:
        pages = sfn.get_paginator("list_executions").paginate(
            stateMachineArn=ctx.output("DrainStateMachineArn"),
            PaginationConfig={"MaxItems": 1000},
        )
        for page in pages:
            for execution in page.get("executions", []):
                if execution["startDate"] >= since:
                    found["started"] += 1
                    found[execution["status"]] += 1
    except Exception as exc:
        return (
            f"CloudWatch has no AWS/States metrics for the drain yet (has it run?), and "
            f"ListExecutions failed ({why(exc)}; Step Functions does not list Express "
            "executions)"
        )
    return {
        "started": found["started"],
        "failed": found["FAILED"],
        "timed_out": found["TIMED_OUT"],
        "source": "list_executions",
    }
