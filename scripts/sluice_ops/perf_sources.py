"""Where `sluice perf` sees a run's objects end: ProcessObject's end-of-invocation log lines (in
its log group, through CloudWatch Logs FilterLogEvents), the dead-letter queue, and the objects
already under a key prefix (see :mod:`sluice_ops.perf`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sluice_ops.context import SluiceCliError, StackContext
from sluice_ops.perf_run import Ending, Invocation, RunObject

# ProcessObject's lines at the end of an invocation (functions/process_object/app.py)
PROCESSED_MESSAGE = "object processed"
UNFINISHED_MESSAGE = "object unfinished"
# Either phrase (CloudWatch Logs' "?term" OR syntax); the lines are checked again here.
LOG_FILTER = f'?"{PROCESSED_MESSAGE}" ?"{UNFINISHED_MESSAGE}"'
POWERTOOLS_TIME = "%Y-%m-%d %H:%M:%S,%f%z"  # e.g. 2026-12-01 03:05:34,961+0000
PROCESS_LOG_GROUP = "ProcessObjectLogGroup"  # the template's logical id of its log group
# Log events may reach CloudWatch Logs seconds after their timestamp: each poll looks back this
# far past the newest event seen (duplicates are dropped by event id).
LOG_LOOKBACK_S = 120
# Clocks differ between this machine and AWS: read logs from a little before the first upload.
CLOCK_SLACK_S = 60
DEAD_LETTER_SCAN_LIMIT = 100_000


def key_of_message(body: str) -> str | None:
    """The object key a queue message names (an S3 EventBridge event or an ``s3_details``
    message, as PlanBatch reads them); None for a body that names none."""
    try:
        event = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(event, dict):
        return None
    details = event.get("s3_details")
    if isinstance(details, dict) and isinstance(details.get("key"), str):
        return str(details["key"])
    detail = event.get("detail")
    obj = detail.get("object") if isinstance(detail, dict) else None
    if isinstance(obj, dict) and isinstance(obj.get("key"), str):
        return str(obj["key"])  # EventBridge sends the raw key (sluice_common.events)
    return None


def _line_time(line: Mapping[str, Any], event: Mapping[str, Any]) -> float | None:
    """When the line was written: Powertools' own ``timestamp`` (milliseconds, the function's
    clock), else the CloudWatch Logs event's."""
    text = line.get("timestamp")
    if isinstance(text, str):
        try:
            return datetime.strptime(text, POWERTOOLS_TIME).timestamp()
        except ValueError:
            pass
    stamp = event.get("timestamp")
    return stamp / 1000 if isinstance(stamp, int | float) else None


def invocation_from_log_event(event: Mapping[str, Any]) -> Invocation | None:
    """An Invocation from one FilterLogEvents event, if it is ProcessObject's line for the end of
    an invocation on an object ("object processed" or "object unfinished ...")."""
    try:
        line = json.loads(str(event.get("message", "")))
    except (ValueError, RecursionError):
        return None
    if not isinstance(line, dict):
        return None
    message, key = line.get("message"), line.get("s3_key")
    if not isinstance(message, str) or not isinstance(key, str):
        return None
    finished = message == PROCESSED_MESSAGE
    if not finished and not message.startswith(UNFINISHED_MESSAGE):
        return None
    at = _line_time(line, event)
    if at is None:
        return None
    figures = line.get("dt.metrics")
    duration_ms = figures.get("sluice.duration_ms") if isinstance(figures, dict) else None
    next_row = line.get("next_row")
    return Invocation(
        key=key,
        finished=finished,
        ended_at=at,
        seconds=duration_ms / 1000 if isinstance(duration_ms, int | float) else None,
        rows=next_row - 1 if finished and isinstance(next_row, int) and next_row >= 1 else None,
    )


def process_log_group(ctx: StackContext) -> str:
    """Where ProcessObject logs: its LoggingConfig (Lambda's own answer), else the stack's
    ProcessObjectLogGroup resource, else the name the template gives that group."""
    from botocore.exceptions import BotoCoreError, ClientError

    function = ctx.output("ProcessObjectFunctionName")
    try:
        config = ctx.client("lambda").get_function_configuration(FunctionName=function)
        group = (config.get("LoggingConfig") or {}).get("LogGroup")
        if group:
            return str(group)
    except (BotoCoreError, ClientError):
        pass  # no lambda:GetFunctionConfiguration: ask the stack
    try:
        pages = ctx.client("cloudformation").get_paginator("list_stack_resources")
        for page in pages.paginate(StackName=ctx.stack_name):
            for resource in page.get("StackResourceSummaries", []):
                if resource.get("LogicalResourceId") == PROCESS_LOG_GROUP:
                    return str(resource["PhysicalResourceId"])
    except (BotoCoreError, ClientError):
        pass
    return f"/aws/lambda/{ctx.stack_name}-ProcessObject"  # template.yaml ProcessObjectLogGroup


class ProcessedLog:
    """Reads ProcessObject's end-of-invocation lines from its log group, a window at a time,
    each event once."""

    def __init__(self, logs: Any, group: str, since: float) -> None:
        self._logs = logs
        self.group = group
        self._since_ms = int(since * 1000)
        self._newest_ms = self._since_ms
        self._seen: set[str] = set()

    def poll(self) -> list[Invocation]:
        start = max(self._since_ms, self._newest_ms - LOG_LOOKBACK_S * 1000)
        found = []
        try:
            pages = self._logs.get_paginator("filter_log_events").paginate(
                logGroupName=self.group,
                startTime=start,
                filterPattern=LOG_FILTER,
            )
            for page in pages:
                for event in page.get("events", []):
                    event_id = str(event.get("eventId"))
                    if event_id in self._seen:
                        continue
                    self._seen.add(event_id)
                    self._newest_ms = max(self._newest_ms, int(event.get("timestamp", 0)))
                    if (invocation := invocation_from_log_event(event)) is not None:
                        found.append(invocation)
        except self._logs.exceptions.ResourceNotFoundException:
            return []  # no invocation has logged yet (the group appears with its first line)
        return found


def dead_letter_endings(sqs: Any, dlq_url: str, keys: set[str]) -> list[Ending]:
    """The run's objects now in the dead-letter queue, each with its sluice-error."""
    from sluice_ops.redrive import list_dead_letters

    return [
        Ending(key=key, outcome="dead-lettered", ended_at=None, reason=letter.error)
        for letter in list_dead_letters(sqs, dlq_url, limit=DEAD_LETTER_SCAN_LIMIT)
        if (key := key_of_message(letter.body)) is not None and key in keys
    ]


def objects_under(ctx: StackContext, prefix: str) -> list[RunObject]:
    """Every object under the prefix, with its LastModified as its upload time."""
    bucket = ctx.output("BucketName")
    found = []
    for page in (
        ctx.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    ):
        for entry in page.get("Contents", []):
            found.append(RunObject(key=entry["Key"], uploaded_at=entry["LastModified"].timestamp()))
    if not found:
        raise SluiceCliError(f"no objects under s3://{bucket}/{prefix}: check --prefix")
    return found
