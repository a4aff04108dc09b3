"""One sync run: read the window's catalogued metrics from CloudWatch, write them as metric
lines, drop what Dynatrace would refuse as too old, send the rest (:func:`sync`).

Takes the CloudWatch client, HTTP pool, clock and sleep as arguments; no boto3 here.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dynatrace_fetch import AGE_MARGIN_S, MAX_AGE_S, Resources, Window, build_queries, fetch
from dynatrace_ingest import Ingest, IngestReport, send_lines
from dynatrace_lines import format_line, to_datapoints


@dataclass
class SyncReport:
    window: Window
    queries: int
    cloudwatch_calls: int
    datapoints: int
    too_old: int  # data points dropped: older than Dynatrace accepts
    ingest: IngestReport
    problems: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "window": self.window.to_dict(),
            "queries": self.queries,
            "cloudwatch_calls": self.cloudwatch_calls,
            "datapoints": self.datapoints,
            "too_old": self.too_old,
            "requests": self.ingest.requests,
            "lines_sent": self.ingest.lines_sent,
            "lines_ok": self.ingest.lines_ok,
            "lines_invalid": self.ingest.lines_invalid,
            "cloudwatch_problems": self.problems,
        }


def sync(
    cloudwatch: Any,
    pool: Any,
    resources: Resources,
    ingest: Ingest,
    window: Window,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> SyncReport:
    """Read the window's metrics from CloudWatch and send them to Dynatrace."""
    queries, series = build_queries(resources)
    fetched = fetch(cloudwatch, queries, window, series)
    points = to_datapoints(fetched.values, series, resources.stack)
    oldest_ms = int((clock() - MAX_AGE_S + AGE_MARGIN_S) * 1000)
    fresh = [p for p in points if p.timestamp_ms >= oldest_ms]
    report = (
        send_lines(pool, ingest, [format_line(p) for p in fresh], sleep=sleep, rng=rng)
        if fresh
        else IngestReport()
    )
    return SyncReport(
        window=window,
        queries=len(queries),
        cloudwatch_calls=fetched.calls,
        datapoints=len(fresh),
        too_old=len(points) - len(fresh),
        ingest=report,
        problems=fetched.problems,
    )
