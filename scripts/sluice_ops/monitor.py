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
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sluice_local.terminal import printable
from sluice_ops.context import SluiceCliError, StackContext
from sluice_ops.monitor_metrics import NEVER_PUBLISHED, PERIOD_S, Metrics, from_metrics, queries
from sluice_ops.monitor_resources import (
    QUEUES,
    alarms,
    concurrency_limit,
    dead_letters,
    iso,
    lease,
    read_queues,
    why,
)

WINDOW_S = 300
DEAD_LETTER_SAMPLE = 100
REQUIRED_OUTPUTS = (
    "ObjectQueueUrl",
    "PriorityQueueUrl",
    "ObjectDeadLetterQueueUrl",
    "LeaseTableName",
    "DrainStateMachineArn",
    "ProcessObjectFunctionName",
)


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
        "time": iso(now),
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
            gaps[path] = why(exc)

    metrics: Metrics | None = None

    def read_metrics() -> None:
        nonlocal metrics
        cloudwatch = ctx.client("cloudwatch")
        metrics = Metrics(cloudwatch, queries(ctx), window_s, now, ctx.memo)

    # Independent reads, side by side: a reading takes as long as its slowest part.
    with ThreadPoolExecutor(max_workers=6) as pool:
        for path, read in (
            ("queues", lambda: read_queues(ctx, snap, gaps)),
            ("dead_letters", lambda: dead_letters(ctx, snap, dead_letter_sample)),
            ("lease", lambda: lease(ctx, snap, now)),
            ("alarms_in_alarm", lambda: alarms(ctx, snap, gaps)),
            ("process_object.limit", lambda: concurrency_limit(ctx, snap)),
            ("metrics", read_metrics),
        ):
            pool.submit(guarded, path, read)
    if metrics is not None:
        guarded("metrics", lambda: from_metrics(ctx, snap, gaps, metrics, now, window_s))
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
