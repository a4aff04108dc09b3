"""sluice monitor: what the pipeline is doing now, read from the stack's resources.

``snapshot(ctx)`` returns one JSON-serialisable reading. Figures that cannot be had are ``null``,
and ``unavailable`` maps their path to the reason; nothing here raises for a missing figure.

Schema (``window_s`` is the look-back of every CloudWatch figure, default 300 s)::

    {
      "time": "2026-12-01T03:05:01Z",              # ISO 8601 UTC, when the reading was taken
      "stack": "sluice", "window_s": 300,
      "queues": {"ObjectQueue":   {"visible": 12, "in_flight": 4, "oldest_age_s": 63.0},
                 "PriorityQueue": {"visible": 0,  "in_flight": 0, "oldest_age_s": 0.0}},
      "dead_letters": {"total": 3, "by_error": {"EmptyObject": 1, "RowsFailed": 2},
                       "sampled": 3},               # by_error counts the first `sampled` only
      "lease": {"held": true, "holder": "arn:...:execution:...", "until": "2026-...Z"},
      "drains": {"started": 9, "failed": 0, "timed_out": 0, "source": "cloudwatch",
                 "window_s": 300},                  # started in the last window_s seconds
      "process_object": {"concurrency": 3,        # the newest minute's Maximum
                         "peak_concurrency": 5, "limit": 5, "throttles": 0, "errors": 0},
      "rows_per_s": 412.5,                          # the last one to two minutes
      "downstream": {"latency_ms": 21.4, "failure_rate": 0.0, "in_flight": null},
      "alarms_in_alarm": ["sluice-DeadLetterAlarm-1A2B3C"],
      "unavailable": {"downstream.in_flight": "..."}   # path -> why it is null
    }

Where each figure comes from, and what AWS offers:

- Queue depth: SQS GetQueueAttributes (``ApproximateNumberOfMessages``, ``...NotVisible``).
  The oldest message's age is not a queue attribute: it is the CloudWatch metric
  ``AWS/SQS ApproximateAgeOfOldestMessage`` (per minute, Maximum), so it lags a minute or two;
  an empty queue's age is 0.
- Dead letters: the count from GetQueueAttributes; ``by_error`` from the ``sluice-error``
  attribute of up to ``dead_letter_sample`` messages (read as ``sluice redrive list`` reads them,
  ``sluice_ops.redrive.DeadLetter``), received with a short hold and made visible again at once,
  also on Ctrl-C. A receive adds to a message's receive count, which is harmless: the
  dead-letter queue has no redrive policy. While a reading holds them (about a second), a
  ``sluice redrive`` run starting at that moment may not see them: use ``--dlq-sample 0`` beside
  a redrive.
- Lease: the ``drain`` item of LeaseTable (``functions/drain_lease/lease.py``): held while
  ``expiresAt`` is in the future.
- Drains: the drain is an Express state machine, and Step Functions' ListExecutions does not
  list Express executions, so the figures are the CloudWatch metrics ``AWS/States``
  ``ExecutionsStarted``/``ExecutionsFailed``/``ExecutionsTimedOut`` (dimension
  ``StateMachineArn``) over the window. Only when CloudWatch has none of them (an emulator) is
  ListExecutions tried (``"source": "list_executions"``).
- ProcessObject: ``AWS/Lambda`` ``ConcurrentExecutions`` (Maximum, as Lambda's docs advise; emitted
  per function), ``Throttles`` and ``Errors`` (Sum) by ``FunctionName``; the limit from
  GetFunctionConcurrency.
- Rows/s, downstream latency and failure rate: the pipeline's EMF metrics (namespace ``Sluice``,
  dimension ``service=sluice``: ``RowsSent``, ``RowsFailed``, ``DownstreamLatency``). Their only
  dimension is the service, so with two Sluice stacks in one account and Region these figures
  add up both.
- Alarms: CloudWatch DescribeAlarms in state ALARM whose name starts with ``<stack>-`` (the
  names CloudFormation gives the template's alarms) or whose actions include AlarmTopic.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sluice_local.terminal import printable
from sluice_ops.context import SluiceCliError, StackContext
from sluice_ops.redrive import DeadLetter

WINDOW_S = 300
PERIOD_S = 60  # CloudWatch's standard resolution
DEAD_LETTER_SAMPLE = 100
# How long a peeked dead letter stays invisible if the release never comes (a killed process):
# short, so a redrive or a listing soon sees it again.
PEEK_HOLD_S = 30
# ListMetrics answers "never published" for at most this long before it is asked again.
MISSING_METRIC_TTL_S = 60
QUEUES = {"ObjectQueue": "ObjectQueueUrl", "PriorityQueue": "PriorityQueueUrl"}
REQUIRED_OUTPUTS = (
    "ObjectQueueUrl",
    "PriorityQueueUrl",
    "ObjectDeadLetterQueueUrl",
    "LeaseTableName",
    "DrainStateMachineArn",
    "ProcessObjectFunctionName",
)
LEASE_KEY = "drain"  # functions/drain_lease/lease.py LEASE_KEY
NEVER_PUBLISHED = (
    "never published to CloudWatch here (AWS publishes it once the resource is used; an "
    "emulator may publish only some metrics)"
)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class _Query:
    id: str
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    stat: str

    def metric(self) -> dict[str, Any]:
        return {
            "Namespace": self.namespace,
            "MetricName": self.name,
            "Dimensions": [{"Name": k, "Value": v} for k, v in self.dimensions],
        }

    def label(self) -> str:
        dims = ", ".join(f"{k}={v}" for k, v in self.dimensions)
        return f"{self.namespace} {self.name} ({dims})"


class _Metrics:
    """One GetMetricData call for every figure, and ListMetrics to tell "no data yet" (the
    metric exists: zero or not yet published) from "never published here"."""

    def __init__(
        self,
        cloudwatch: Any,
        queries: list[_Query],
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


def snapshot(
    ctx: StackContext,
    *,
    window_s: int = WINDOW_S,
    dead_letter_sample: int = DEAD_LETTER_SAMPLE,
    now: float | None = None,
) -> dict[str, Any]:
    """One reading of every figure (schema in the module docstring)."""
    now = time.time() if now is None else now
    snap: dict[str, Any] = {
        "time": _iso(now),
        "stack": ctx.stack_name,
        "window_s": window_s,
        "queues": {name: _nulls("visible", "in_flight", "oldest_age_s") for name in QUEUES},
        "dead_letters": {"total": None, "by_error": {}, "sampled": 0},
        "lease": _nulls("held", "holder", "until"),
        "drains": {
            **_nulls("started", "failed", "timed_out"),
            "source": None,
            "window_s": window_s,
        },
        "process_object": _nulls("concurrency", "peak_concurrency", "limit", "throttles", "errors"),
        "rows_per_s": None,
        "downstream": _nulls("latency_ms", "failure_rate", "in_flight"),
        "alarms_in_alarm": [],
        "unavailable": {},
    }
    gaps: dict[str, str] = snap["unavailable"]
    gaps["downstream.in_flight"] = (
        "not emitted: each ProcessObject instance makes one downstream call at a time, so "
        "ProcessObject concurrency bounds the calls in flight"
    )

    def guarded(path: str, read: Callable[[], None]) -> None:
        try:
            read()
        except SluiceCliError as exc:
            gaps[path] = str(exc)
        except Exception as exc:  # one figure failing must not hide the others
            gaps[path] = _why(exc)

    metrics: _Metrics | None = None

    def read_metrics() -> None:
        nonlocal metrics
        cloudwatch = ctx.client("cloudwatch")
        metrics = _Metrics(cloudwatch, _queries(ctx), window_s, now, ctx.memo)

    # Independent reads, side by side: a reading takes as long as its slowest part.
    with ThreadPoolExecutor(max_workers=6) as pool:
        for path, read in (
            ("queues", lambda: _queues(ctx, snap, gaps)),
            ("dead_letters", lambda: _dead_letters(ctx, snap, dead_letter_sample)),
            ("lease", lambda: _lease(ctx, snap, now)),
            ("alarms_in_alarm", lambda: _alarms(ctx, snap, gaps)),
            ("process_object.limit", lambda: _concurrency_limit(ctx, snap)),
            ("metrics", read_metrics),
        ):
            pool.submit(guarded, path, read)
    if metrics is not None:
        guarded("metrics", lambda: _from_metrics(ctx, snap, gaps, metrics, now, window_s))
    elif "metrics" in gaps:
        reason = gaps.pop("metrics")
        for path in (
            "drains",
            "process_object.concurrency",
            "process_object.throttles",
            "process_object.errors",
            "rows_per_s",
            "downstream.latency_ms",
            "downstream.failure_rate",
        ):
            gaps[path] = f"CloudWatch GetMetricData failed: {reason}"
        for name in QUEUES:
            gaps.setdefault(f"queues.{name}.oldest_age_s", f"CloudWatch failed: {reason}")
    return snap


def _nulls(*names: str) -> dict[str, Any]:
    return dict.fromkeys(names)


def _why(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        error = response["Error"]
        return f"{error.get('Code')}: {error.get('Message')}"
    return f"{type(exc).__name__}: {exc}"


def _queue_name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def _queues(ctx: StackContext, snap: dict[str, Any], gaps: dict[str, str]) -> None:
    sqs = ctx.client("sqs")
    for name, output in QUEUES.items():
        attributes = sqs.get_queue_attributes(
            QueueUrl=ctx.output(output),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        snap["queues"][name]["visible"] = int(attributes["ApproximateNumberOfMessages"])
        snap["queues"][name]["in_flight"] = int(attributes["ApproximateNumberOfMessagesNotVisible"])


def _dead_letters(ctx: StackContext, snap: dict[str, Any], sample: int) -> None:
    sqs, url = ctx.client("sqs"), ctx.output("ObjectDeadLetterQueueUrl")
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    total = int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )
    snap["dead_letters"]["total"] = total
    visible = int(attributes["ApproximateNumberOfMessages"])
    if sample > 0 and visible:
        letters = _peek(sqs, url, min(sample, visible))
        snap["dead_letters"]["by_error"] = dict(Counter(d.error for d in letters).most_common())
        snap["dead_letters"]["sampled"] = len(letters)


def _peek(sqs: Any, url: str, limit: int) -> list[DeadLetter]:
    """Up to ``limit`` dead letters, each once, then visible again (whatever happens between)."""
    letters: list[DeadLetter] = []
    held: list[str] = []  # receipt handles, kept before anything else can fail
    try:
        while len(held) < limit:
            batch = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=min(10, limit - len(held)),
                WaitTimeSeconds=1,  # a short poll may miss messages the queue holds
                VisibilityTimeout=PEEK_HOLD_S,
                MessageAttributeNames=["All"],
                AttributeNames=["ApproximateReceiveCount"],
            ).get("Messages")
            if not batch:
                break
            held += [m["ReceiptHandle"] for m in batch]
            letters += [DeadLetter.from_message(m) for m in batch]
    finally:
        for start in range(0, len(held), 10):
            sqs.change_message_visibility_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                    for n, handle in enumerate(held[start : start + 10])
                ],
            )
    return letters


def _lease(ctx: StackContext, snap: dict[str, Any], now: float) -> None:
    item = (
        ctx.client("dynamodb")
        .get_item(
            TableName=ctx.output("LeaseTableName"),
            Key={"lease": {"S": LEASE_KEY}},
            ConsistentRead=True,
        )
        .get("Item")
    )
    if not item:
        snap["lease"].update(held=False, holder=None, until=None)
        return
    expires = float(item.get("expiresAt", {}).get("N", "0"))
    snap["lease"].update(
        held=expires > now, holder=item.get("holder", {}).get("S"), until=_iso(expires)
    )


def _alarms(ctx: StackContext, snap: dict[str, Any], gaps: dict[str, str]) -> None:
    cloudwatch = ctx.client("cloudwatch")
    topic = ctx.outputs.get("AlarmTopicArn")
    prefix = f"{ctx.stack_name}-"

    def ours(alarm: dict[str, Any]) -> bool:
        return alarm["AlarmName"].startswith(prefix) or (
            bool(topic) and topic in alarm.get("AlarmActions", [])
        )

    firing, defined = [], 0
    paginator = cloudwatch.get_paginator("describe_alarms")
    for page in paginator.paginate(AlarmTypes=["MetricAlarm", "CompositeAlarm"]):
        for alarm in [*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])]:
            if ours(alarm):
                defined += 1
                if alarm.get("StateValue") == "ALARM":
                    firing.append(alarm["AlarmName"])
    snap["alarms_in_alarm"] = sorted(firing)
    if not defined:
        gaps["alarms_in_alarm"] = (
            f"no CloudWatch alarm named {prefix}* or notifying AlarmTopic here "
            "(the template defines them; the local emulator creates none)"
        )


def _concurrency_limit(ctx: StackContext, snap: dict[str, Any]) -> None:
    response = ctx.client("lambda").get_function_concurrency(
        FunctionName=ctx.output("ProcessObjectFunctionName")
    )
    limit = response.get("ReservedConcurrentExecutions")
    snap["process_object"]["limit"] = None if limit is None else int(limit)


def _queries(ctx: StackContext) -> list[_Query]:
    function = ctx.output("ProcessObjectFunctionName")
    machine = ctx.output("DrainStateMachineArn")
    service = (("service", "sluice"),)
    queries = [
        _Query(f"age{n}", "AWS/SQS", "ApproximateAgeOfOldestMessage",
               (("QueueName", _queue_name(ctx.output(output))),), "Maximum")
        for n, output in enumerate(QUEUES.values())
    ]  # fmt: skip
    drain, fn = (("StateMachineArn", machine),), (("FunctionName", function),)
    queries += [
        _Query("started", "AWS/States", "ExecutionsStarted", drain, "Sum"),
        _Query("failed", "AWS/States", "ExecutionsFailed", drain, "Sum"),
        _Query("timedout", "AWS/States", "ExecutionsTimedOut", drain, "Sum"),
        _Query("concurrency", "AWS/Lambda", "ConcurrentExecutions", fn, "Maximum"),
        _Query("throttles", "AWS/Lambda", "Throttles", fn, "Sum"),
        _Query("errors", "AWS/Lambda", "Errors", fn, "Sum"),
        _Query("invocations", "AWS/Lambda", "Invocations", fn, "Sum"),
        _Query("rowssent", "Sluice", "RowsSent", service, "Sum"),
        _Query("rowsfailed", "Sluice", "RowsFailed", service, "Sum"),
        _Query("latencysum", "Sluice", "DownstreamLatency", service, "Sum"),
        _Query("latencycount", "Sluice", "DownstreamLatency", service, "SampleCount"),
    ]
    return queries


def _from_metrics(
    ctx: StackContext,
    snap: dict[str, Any],
    gaps: dict[str, str],
    m: _Metrics,
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
    _drains(ctx, snap, gaps, m, now, window_s)
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


def _drains(
    ctx: StackContext,
    snap: dict[str, Any],
    gaps: dict[str, str],
    m: _Metrics,
    now: float,
    window_s: int,
) -> None:
    drains = snap["drains"]
    names = {"started": "started", "failed": "failed", "timed_out": "timedout"}
    counts = {key: m.total(query) for key, query in names.items()}
    if any(v is not None for v in counts.values()):
        drains.update({k: int(v or 0) for k, v in counts.items()}, source="cloudwatch")
        return
    # CloudWatch has no drain metrics: an emulator, or a drain that never ran. ListExecutions
    # lists Standard executions only (AWS refuses it for Express), so this is a fallback.
    sfn = ctx.client("stepfunctions")
    since = datetime.fromtimestamp(now - window_s, UTC)
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
        gaps["drains"] = (
            f"CloudWatch has no AWS/States metrics for the drain yet (has it run?), and "
            f"ListExecutions failed ({_why(exc)}; Step Functions does not list Express "
            "executions)"
        )
        return
    drains.update(
        started=found["started"],
        failed=found["FAILED"],
        timed_out=found["TIMED_OUT"],
        source="list_executions",
    )


# -- the command ---------------------------------------------------------------------------------
EPILOG = """examples:
  sluice monitor                                  # live view, refreshed every 5 s
  sluice monitor --interval 2 --window 120
  sluice monitor --once --json | jq .queues       # one reading for scripts
  sluice monitor --json > readings.jsonl          # one JSON line per refresh

Figures AWS publishes only to CloudWatch (oldest message age, Lambda and Step Functions metrics)
lag a minute or two. A figure that cannot be read shows n/a with the reason.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--interval", type=float, default=5.0, help="seconds between refreshes (default 5)"
    )
    parser.add_argument("--once", action="store_true", help="one reading, then exit")
    parser.add_argument("--json", action="store_true", help="JSON instead of the table")
    parser.add_argument(
        "--window",
        type=int,
        default=WINDOW_S,
        metavar="SECONDS",
        help=f"look-back of the CloudWatch figures (default {WINDOW_S})",
    )
    parser.add_argument(
        "--dlq-sample",
        type=int,
        default=DEAD_LETTER_SAMPLE,
        metavar="N",
        help=f"dead letters read for the count by reason (default {DEAD_LETTER_SAMPLE}; "
        "0 counts only, for use beside a redrive)",
    )


def check_args(args: argparse.Namespace) -> None:
    if args.interval <= 0:
        raise SluiceCliError(f"--interval must be positive (got {args.interval})")
    if args.window < PERIOD_S:
        raise SluiceCliError(f"--window must be at least {PERIOD_S} s (got {args.window})")
    if args.dlq_sample < 0:
        raise SluiceCliError(f"--dlq-sample must be 0 or more (got {args.dlq_sample})")


def _fmt(value: Any, path: str, gaps: dict[str, str], unit: str = "") -> str:
    if value is None:
        return "n/a" + (" *" if any(path.startswith(p) or p.startswith(path) for p in gaps) else "")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.1f}{unit}"
    return f"{value}{unit}"


def render(snap: dict[str, Any]) -> Any:
    """The reading as rich renderables (a table and the reasons for what is n/a)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    gaps: dict[str, str] = snap["unavailable"]
    table = Table(
        title=f"Sluice stack {snap['stack']} at {snap['time']}",
        caption=f"CloudWatch figures over the last {snap['window_s']} s",
        show_header=True,
        expand=False,
    )
    table.add_column("figure")
    table.add_column("value", justify="right")

    def row(label: str, value: Any, path: str, unit: str = "") -> None:
        table.add_row(Text(label), Text(_fmt(value, path, gaps, unit)))

    for name, q in snap["queues"].items():
        row(f"{name} visible / in flight", f"{_fmt(q['visible'], f'queues.{name}', gaps)} / "
            f"{_fmt(q['in_flight'], f'queues.{name}', gaps)}", "")  # fmt: skip
        row(f"{name} oldest message", q["oldest_age_s"], f"queues.{name}.oldest_age_s", " s")
    dl = snap["dead_letters"]
    row("dead letters", dl["total"], "dead_letters")
    for error, count in dl["by_error"].items():
        # sluice-error is whatever the message carried: printed escaped.
        row(f"  {printable(error)}", count, "dead_letters")
    if dl["by_error"] and dl["total"] and dl["sampled"] < dl["total"]:
        # The rest were not visible (in flight to a reader) or past --dlq-sample.
        row("  reasons read", f"{dl['sampled']} of {dl['total']}", "dead_letters")
    lease = snap["lease"]
    if lease["held"]:
        row("drain lease", f"held until {lease['until']}", "lease")
        # The holder is the drain execution's ARN; its name is what the console lists.
        row("  by execution", printable(str(lease["holder"]).rsplit(":", 1)[-1]), "lease")
    elif lease["held"] is False:
        last = f" (last held until {lease['until']})" if lease["until"] else ""
        row("drain lease", "free" + last, "lease")
    else:
        row("drain lease", None, "lease")
    d = snap["drains"]
    drains_text = (
        None
        if d["started"] is None
        else f"{d['started']} started, {d['failed']} failed, {d['timed_out']} timed out"
    )
    source = {"cloudwatch": " (CloudWatch)", "list_executions": " (ListExecutions)"}
    row(f"drain executions{source.get(d['source'] or '', '')}", drains_text, "drains")
    po = snap["process_object"]
    row("ProcessObject concurrency last min/peak/limit",
        " / ".join(_fmt(po[k], f"process_object.{k}", gaps)
                   for k in ("concurrency", "peak_concurrency", "limit")), "")  # fmt: skip
    row("ProcessObject throttles", po["throttles"], "process_object.throttles")
    row("ProcessObject errors", po["errors"], "process_object.errors")
    row("rows/s", snap["rows_per_s"], "rows_per_s")
    ds = snap["downstream"]
    row("downstream latency", ds["latency_ms"], "downstream.latency_ms", " ms")
    failure = ds["failure_rate"]
    row("downstream failure rate", None if failure is None else f"{failure:.2%}",
        "downstream.failure_rate")  # fmt: skip
    alarms = snap["alarms_in_alarm"]
    row("alarms in ALARM", ", ".join(alarms) if alarms else "none", "alarms_in_alarm")
    notes = Text()
    by_reason: dict[str, list[str]] = {}
    for path, reason in sorted(gaps.items()):
        # The metric names are in the JSON; the table says once what they have in common.
        by_reason.setdefault(
            NEVER_PUBLISHED if reason.endswith(NEVER_PUBLISHED) else reason, []
        ).append(path)
    for reason, paths in by_reason.items():
        notes.append(f"* {', '.join(paths)}: ", style="bold")
        notes.append(printable(reason) + "\n", style="dim")
    return Group(table, notes)


def run(args: argparse.Namespace, ctx: StackContext) -> int:
    check_args(args)
    for output in REQUIRED_OUTPUTS:
        ctx.output(output)

    def read() -> dict[str, Any]:
        return snapshot(ctx, window_s=args.window, dead_letter_sample=args.dlq_sample)

    def pause(since: float) -> None:
        """Readings every --interval seconds, however long a reading takes."""
        time.sleep(max(0.0, since + args.interval - time.monotonic()))

    try:
        if args.json:
            while True:
                started = time.monotonic()
                print(json.dumps(read(), indent=2 if args.once else None), flush=True)
                if args.once:
                    return 0
                pause(started)
        from rich.console import Console
        from rich.live import Live

        console = Console()
        if args.once:
            console.print(render(read()))
            return 0
        started = time.monotonic()
        with Live(render(read()), console=console, auto_refresh=False) as live:
            while True:
                pause(started)
                started = time.monotonic()
                live.update(render(read()), refresh=True)
    except KeyboardInterrupt:
        return 0
