"""What ProcessObject reports of an object: its metrics (EMF) and its closing log line.

The metric names are the ones the dashboards, the alarms and the Dynatrace sync read.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from object_budget import start_by
from object_processor import ObjectSummary
from sluice_common.events import ObjectRef
from sluice_common.observability import dt_metrics, logger, metrics

# The summary's counts the closing log line carries for Dynatrace (as sluice.<name>).
DT_COUNTS = ("rows_sent", "rows_failed", "retries", "duration_ms", "downstream_ms")


def postponed(ref: ObjectRef, event: Any) -> dict[str, Any]:
    """Too late to start: a normal response (a function error would count in the Errors alarm)
    with nothing read or sent."""
    metrics.add_metric(name="ObjectsPostponed", unit=MetricUnit.Count, value=1)
    logger.info(
        "object not started: the drain's round has no time left for one request",
        extra={"start_by": start_by(event)},
    )
    summary = ObjectSummary(bucket=ref.bucket, key=ref.key, version_id=ref.version_id)
    return {**summary.to_dict(), "postponed": True}


def report(summary: ObjectSummary) -> None:
    """The metrics and the log line of an object this invocation worked on (done or not)."""
    metrics.add_metric(
        name="ObjectsContinued" if summary.unfinished else "ObjectsProcessed",
        unit=MetricUnit.Count,
        value=1,
    )
    metrics.add_metric(name="RowsSent", unit=MetricUnit.Count, value=summary.rows_sent)
    if not summary.unfinished:
        metrics.add_metric(name="RowsFailed", unit=MetricUnit.Count, value=summary.rows_failed)
    metrics.add_metric(name="DownstreamRetries", unit=MetricUnit.Count, value=summary.retries)
    metrics.add_metric(
        name="ObjectProcessingDuration", unit=MetricUnit.Milliseconds, value=summary.duration_ms
    )
    if summary.requests:
        # Mean over this object's requests; an object whose rows were all delivered before
        # (idempotency) made none and reports none.
        metrics.add_metric(
            name="DownstreamLatency",
            unit=MetricUnit.Milliseconds,
            value=summary.downstream_ms / summary.requests,
        )
    where = {
        "next_row": summary.next_row,
        "pass": summary.pass_number,
        "rows_read": summary.rows_read,
        "rows_failed": summary.rows_failed,
    }
    counts = {name: getattr(summary, name) for name in DT_COUNTS}
    logger.info(
        "object unfinished: it carries on from its checkpoint"
        if summary.unfinished
        else "object processed",
        extra={**where, **dt_metrics(**counts)},
    )
