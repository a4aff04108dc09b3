"""What one sync run reads from CloudWatch: the window, the resources, one ``GetMetricData``
query per catalogued metric, resource and statistic (:func:`build_queries`, :func:`fetch`).

Which metrics, their Dynatrace keys and how a minute is aggregated come from the layer's
catalogue (``sluice_common.metric_catalogue``). Takes the CloudWatch client as an argument; no
boto3 here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dynatrace_errors import DynatraceConfigError
from sluice_common.metric_catalogue import (
    CLOUDWATCH_DIMENSION,
    PIPELINE_NAMESPACE,
    PIPELINE_SERVICE,
    SYNCED,
    Metric,
    Scope,
    queue_name,
    state_machine_name,
)

PERIOD_S = 60  # CloudWatch resolution read, and Dynatrace's one-minute slot
MAX_QUERIES_PER_CALL = 500  # GetMetricData
MAX_AGE_S = 3600  # Dynatrace drops data points more than an hour old
AGE_MARGIN_S = 120  # ... so leave room for the time the request takes


@dataclass(frozen=True)
class Resources:
    """The deployed pipeline whose metrics are synced."""

    stack: str
    namespace: str = PIPELINE_NAMESPACE
    service: str = PIPELINE_SERVICE
    queues: tuple[str, ...] = ()
    functions: tuple[str, ...] = ()
    state_machine_arn: str = ""

    def targets(self, scope: Scope) -> list[tuple[str, str]]:
        """(CloudWatch dimension value, Dynatrace dimension value) of each resource."""
        if scope is Scope.QUEUE:
            return [(queue_name(q), queue_name(q)) for q in self.queues if q]
        if scope is Scope.FUNCTION:
            return [(f, f) for f in self.functions if f]
        if scope is Scope.STATE_MACHINE:
            arn = self.state_machine_arn
            return [(arn, state_machine_name(arn))] if arn else []
        if scope is Scope.SERVICE:
            return [(self.service, self.service)] if self.service else []
        return []  # nothing synced is measured on another scope


@dataclass(frozen=True)
class Window:
    """Whole minutes [start, end) synced by one run."""

    start: datetime
    end: datetime

    @classmethod
    def ending_before(cls, moment: datetime, period_s: int, delay_s: int) -> Window:
        """[moment - delay - period, moment - delay), minute-aligned. Runs ``period_s`` apart
        sync windows that follow each other with neither gap nor overlap; the delay gives
        CloudWatch time to receive late data points."""
        check_timing(period_s, delay_s)
        epoch = int((moment - timedelta(seconds=delay_s)).timestamp()) // PERIOD_S * PERIOD_S
        end = datetime.fromtimestamp(epoch, UTC)
        return cls(end - timedelta(seconds=period_s), end)

    def to_dict(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}


def check_timing(period_s: int, delay_s: int) -> None:
    if period_s < PERIOD_S or period_s % PERIOD_S:
        raise DynatraceConfigError(
            f"SYNC_PERIOD_SECONDS={period_s}: must be a whole number of minutes (60, 120, ...)"
        )
    if delay_s < 0:
        raise DynatraceConfigError(f"SYNC_DELAY_SECONDS={delay_s} must not be negative")
    if delay_s + period_s > MAX_AGE_S - AGE_MARGIN_S:
        raise DynatraceConfigError(
            f"SYNC_DELAY_SECONDS + SYNC_PERIOD_SECONDS = {delay_s + period_s}: Dynatrace drops "
            f"data points more than an hour ({MAX_AGE_S} s) old, keep the sum at most "
            f"{MAX_AGE_S - AGE_MARGIN_S}"
        )


@dataclass(frozen=True)
class Series:
    """One GetMetricData query: a statistic of a metric of one resource."""

    id: str
    spec: Metric
    dimension_value: str  # in Dynatrace
    stat: str


def build_queries(resources: Resources) -> tuple[list[dict[str, Any]], dict[str, Series]]:
    """Every MetricDataQuery of the catalogue's synced metrics for these resources, and what
    each Id is."""
    queries: list[dict[str, Any]] = []
    series: dict[str, Series] = {}
    for spec in SYNCED:
        for cw_value, dt_value in resources.targets(spec.scope):
            for stat in spec.stats:
                query_id = f"m{len(queries)}"  # GetMetricData: ^[a-z][a-zA-Z0-9_]*$
                queries.append(
                    {
                        "Id": query_id,
                        "MetricStat": {
                            "Metric": {
                                "Namespace": spec.namespace or resources.namespace,
                                "MetricName": spec.name,
                                "Dimensions": [
                                    {"Name": CLOUDWATCH_DIMENSION[spec.scope], "Value": cw_value}
                                ],
                            },
                            "Period": PERIOD_S,
                            "Stat": stat,
                        },
                        "ReturnData": True,
                    }
                )
                series[query_id] = Series(query_id, spec, dt_value, stat)
    return queries, series


@dataclass
class Fetched:
    values: dict[str, list[tuple[datetime, float]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    calls: int = 0
    problems: list[str] = field(default_factory=list)  # series CloudWatch could not answer


def fetch(
    cloudwatch: Any, queries: Sequence[dict[str, Any]], window: Window, series: dict[str, Series]
) -> Fetched:
    """GetMetricData for every query, 500 a call, following NextToken."""
    fetched = Fetched()
    for first in range(0, len(queries), MAX_QUERIES_PER_CALL):
        chunk = list(queries[first : first + MAX_QUERIES_PER_CALL])
        token: str | None = None
        while True:
            request: dict[str, Any] = {
                "MetricDataQueries": chunk,
                "StartTime": window.start,
                "EndTime": window.end,
                "ScanBy": "TimestampAscending",
            }
            if token:
                request["NextToken"] = token
            response = cloudwatch.get_metric_data(**request)
            fetched.calls += 1
            for result in response.get("MetricDataResults", []):
                fetched.values[result["Id"]].extend(
                    zip(result.get("Timestamps", []), result.get("Values", []), strict=False)
                )
                if result.get("StatusCode") in {"InternalError", "Forbidden"}:
                    about = series.get(result["Id"])
                    name = f"{about.spec.name} {about.stat}" if about else result["Id"]
                    fetched.problems.append(f"{name}: {result['StatusCode']}")
            token = response.get("NextToken")
            if not token:
                break
    return fetched
