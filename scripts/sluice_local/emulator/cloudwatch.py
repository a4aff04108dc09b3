"""Each invocation's log lines into CloudWatch Logs, and its EMF lines into CloudWatch metrics.

Lambda sends what a function prints to its log group, and CloudWatch turns Embedded Metric
Format lines into metrics. moto does neither for in-process handlers, so the runtime ships the
lines itself: subscription filters on the log groups (Splunk, execution alerts) then fire as in
AWS, and the pipeline's own metrics (ObjectsProcessed, RowsSent, ...) are there to read.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from datetime import UTC, datetime
from typing import Any

from sluice_local.emulator.invocations import FunctionRuntime

_MAX_METRIC_DATA = 1000  # PutMetricData takes at most 1,000 metrics per call


def emf_metric_data(line: str) -> tuple[str, list[dict[str, Any]]] | None:
    """(namespace, PutMetricData entries) of an EMF log line, or None for any other line."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    aws = record.get("_aws") if isinstance(record, dict) else None
    if not isinstance(aws, dict) or not aws.get("CloudWatchMetrics"):
        return None
    timestamp = datetime.fromtimestamp(float(aws.get("Timestamp", time.time() * 1000)) / 1000, UTC)
    namespace = ""
    data: list[dict[str, Any]] = []
    for directive in aws["CloudWatchMetrics"]:
        namespace = directive["Namespace"]
        for dimension_set in directive.get("Dimensions") or [[]]:
            dimensions = [
                {"Name": d, "Value": str(record[d])} for d in dimension_set if d in record
            ]
            for metric in directive.get("Metrics", []):
                value = record.get(metric["Name"])
                values = value if isinstance(value, list) else [value]
                numbers = [float(v) for v in values if isinstance(v, int | float)]
                if not numbers:
                    continue
                data.append(
                    {
                        "MetricName": metric["Name"],
                        "Dimensions": dimensions,
                        "Values": numbers,
                        "Unit": metric.get("Unit", "None"),
                        "Timestamp": timestamp,
                    }
                )
    return namespace, data


class LogShipper:
    """The dispatcher's log shipper: ``dispatcher.log_shipper = LogShipper(logs, cloudwatch)``."""

    def __init__(self, logs: Any, cloudwatch: Any) -> None:
        self._logs = logs
        self._cloudwatch = cloudwatch
        # Reentrant: a subscription filter runs its function inside put_log_events, and that
        # function's own lines are shipped from the same thread.
        self._lock = threading.RLock()
        self._streams: set[tuple[str, str]] = set()

    def __call__(self, runtime: FunctionRuntime, lines: list[str]) -> None:
        if not lines:
            return
        self._put_metrics(lines)
        if runtime.log_group:
            self._put_logs(runtime, lines)

    def _put_metrics(self, lines: list[str]) -> None:
        for line in lines:
            parsed = emf_metric_data(line)
            if parsed is None or not parsed[1]:
                continue
            namespace, data = parsed
            for start in range(0, len(data), _MAX_METRIC_DATA):
                self._cloudwatch.put_metric_data(
                    Namespace=namespace, MetricData=data[start : start + _MAX_METRIC_DATA]
                )

    def _put_logs(self, runtime: FunctionRuntime, lines: list[str]) -> None:
        group = runtime.log_group
        assert group is not None
        stream = time.strftime("%Y/%m/%d/[$LATEST]", time.gmtime()) + runtime.function_name
        now = int(time.time() * 1000)
        with self._lock:
            if (group, stream) not in self._streams:
                with contextlib.suppress(self._logs.exceptions.ResourceAlreadyExistsException):
                    self._logs.create_log_stream(logGroupName=group, logStreamName=stream)
                self._streams.add((group, stream))
            self._logs.put_log_events(
                logGroupName=group,
                logStreamName=stream,
                logEvents=[{"timestamp": now, "message": line} for line in lines],
            )
