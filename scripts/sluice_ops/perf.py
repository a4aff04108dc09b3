"""sluice perf: load the stack, watch it drain, and write a report with plots.

    sluice perf --objects 500 --rows 20 --out perf-500
    sluice perf --prefix incoming/batch-7/ --timeout 3600 --out perf-batch-7

It runs a load (``sluice simulate``'s uploads, or with ``--prefix`` the objects already under that
key prefix), samples the monitor's figures (``sluice monitor --once --json``) every ``--interval``
seconds until the run has drained or ``--timeout`` passes, and writes ``--out``: ``report.md``
(figures beside their goals), ``samples.csv`` (one row per sample) and four PNG plots.

How an object's end is observed, the same on AWS and on ``sluice-local up``:

- **processed**: ProcessObject logs ``"object processed"`` (JSON, with ``s3_key``) when it has
  finished an object, and ``"object unfinished ..."`` when an invocation stops part-way (the
  object carries on later). perf reads both from the function's log group with CloudWatch Logs
  FilterLogEvents; the line's time is the end time, and its ``sluice.duration_ms`` gives each
  invocation's start, so the invocations running at any moment are known to the millisecond
  (the downstream calls in flight: each instance makes one at a time).
- **dead-lettered**: the object's message is in ObjectDeadLetterQueue, with its ``sluice-error``;
  perf looks at the queue (received and released at once, as ``sluice redrive list`` does) when
  the queues are empty and objects are still unaccounted, and once at the end.

Exit status 0 when every object ended; 1 on timeout (the report is still written, marked
incomplete); 2 for bad input or an unusable stack; 130 on Ctrl-C (the report is still written).

Permissions beyond what ``sluice monitor`` and ``sluice simulate`` need: ``logs:FilterLogEvents``
on ProcessObject's log group, and ``lambda:GetFunctionConfiguration`` or
``cloudformation:ListStackResources`` to find that group.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sluice_ops.context import SluiceCliError, StackContext, add_aws_options, resolve
from sluice_ops.perf_report import RunInfo, build_figures, goals, render_report
from sluice_ops.perf_run import Accounting, Ending, RunObject, Sample
from sluice_ops.perf_samples import csv_rows, queue_depth
from sluice_ops.perf_sources import (
    CLOCK_SLACK_S,
    ProcessedLog,
    dead_letter_endings,
    objects_under,
    process_log_group,
)
from sluice_ops.simulate import add_load_arguments, plan_from_args, run_prefix, run_simulation

ROW_BINS = 40  # about this many bars in the rows/s plot

Snapshot = Callable[[StackContext], Mapping[str, Any]]


@dataclass
class Measurement:
    samples: list[Sample]
    accounting: Accounting
    timed_out: bool
    started_at: float
    finished_at: float
    sample_errors: int = 0
    interrupted: bool = False  # Ctrl-C: the report is written with what was seen


Load = Future[list[RunObject]]


def loaded(objects: list[RunObject]) -> Load:
    """A load that is already there (``--prefix``)."""
    future: Load = Future()
    future.set_result(objects)
    return future


def measure(
    ctx: StackContext,
    *,
    snapshot: Snapshot,
    load: Load,
    log: Callable[[float], ProcessedLog],
    dead_letters: Callable[[set[str]], list[Ending]],
    interval_s: float,
    timeout_s: float,
    started_at: float,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    say: Callable[[str], None] = lambda _: None,
) -> Measurement:
    """Sample until the run drained (queues empty, every object ended) or the timeout passed.

    ``load`` gives the run's objects once uploaded (samples are taken while uploads run);
    ``log`` makes the log reader, given the first upload's time.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    samples: list[Sample] = []
    deadline = started_at + timeout_s
    accounting: Accounting | None = None
    reader: ProcessedLog | None = None
    errors = 0

    def start() -> tuple[Accounting, ProcessedLog]:
        objects = load.result()  # an upload failure raises here
        return Accounting(objects), log(min(o.uploaded_at for o in objects))

    def account(accounting: Accounting, reader: ProcessedLog, look_in_dlq: bool) -> None:
        for invocation in reader.poll():
            if invocation.key in accounting.keys:
                accounting.record_invocation(invocation)
        # Read the dead-letter queue only when nothing is left to process, and at the end:
        # each look receives and releases every message in it.
        if look_in_dlq and not accounting.complete:
            for ending in dead_letters(accounting.keys):
                accounting.record(ending)

    def sample() -> bool:
        """One sample (and a look at the logs); True once the run has drained."""
        nonlocal accounting, reader
        if accounting is None and load.done():
            accounting, reader = start()
        snap = snapshot(ctx)
        now = clock()
        depth = queue_depth(snap)
        if accounting is not None and reader is not None:
            account(accounting, reader, look_in_dlq=not depth)
        ended = len(accounting.endings) if accounting else 0
        samples.append(Sample(at=now, snapshot=snap, objects_ended=ended))
        if accounting is None:
            return False
        say(
            f"{now - started_at:7.1f} s  queued {_count(depth):>5}  "
            f"ended {ended}/{len(accounting.objects)}"
        )
        return accounting.complete and not depth

    interrupted = False
    tick = clock()
    try:
        while True:
            try:
                if sample():
                    assert accounting is not None
                    return Measurement(samples, accounting, False, started_at, clock(), errors)
            except (BotoCoreError, ClientError) as exc:  # one lost sample, not a lost run
                errors += 1
                say(f"sample skipped: {exc}")
            # Samples keep their rhythm however long a snapshot took.
            tick += interval_s
            now = clock()
            if now >= deadline:
                break
            sleep(max(0.0, min(tick, deadline) - now))
    except KeyboardInterrupt:
        if not load.done():
            raise  # nothing uploaded to account for yet
        interrupted = True
    if accounting is None or reader is None:  # the uploads outlasted the timeout
        accounting, reader = start()
    account(accounting, reader, look_in_dlq=True)
    return Measurement(
        samples,
        accounting,
        not accounting.complete,
        started_at,
        clock(),
        errors,
        interrupted=interrupted,
    )


def _count(value: float | None) -> str:
    return "?" if value is None else f"{value:.0f}"


def rows_bin_seconds(duration_s: float) -> float:
    """A round bar width giving about ROW_BINS bars: 1, 2, 5, 10, 20, 30 s, then minutes."""
    for width in (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600):
        if duration_s / width <= ROW_BINS:
            return float(width)
    return 3600.0


def write_report(out: Path, info: RunInfo, measurement: Measurement) -> list[Path]:
    """report.md, samples.csv and the plots into ``out``; the files written."""
    from sluice_ops.plots import write_plots

    out.mkdir(parents=True, exist_ok=True)
    header, rows = csv_rows(measurement.samples, info.started_at)
    with (out / "samples.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    figures = build_figures(info, measurement.samples, measurement.accounting)
    plots = write_plots(
        measurement.samples,
        info.started_at,
        figures.limit,
        measurement.accounting,
        out,
        rows_bin_s=rows_bin_seconds(info.finished_at - info.started_at),
    )
    report = render_report(info, figures, goals(figures, info.parameters), plots)
    (out / "report.md").write_text(report, encoding="utf-8")
    return [out / "report.md", out / "samples.csv", *(out / name for name in plots.values())]


EPILOG = """examples:
  sluice perf --objects 30 --out perf-30                      # simulate 30 objects and measure
  sluice perf --objects 1000 --rows 50 --broken 0.01 --interval 10 --timeout 3600 --out perf-1k
  sluice perf --prefix incoming/2026-12-01/ --out perf-today  # measure objects already uploaded
  sluice perf --endpoint-url http://127.0.0.1:4566 --objects 30 --out perf-local

Writes OUT/report.md (figures and goals), OUT/samples.csv and OUT/*.png. Exit status: 0 when every
object was processed or dead-lettered, 1 on --timeout (the report is still written, marked
INCOMPLETE), 2 for bad input or an unusable stack.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    load = parser.add_argument_group("load (simulate, unless --prefix)")
    add_load_arguments(load)
    load.add_argument(
        "--prefix",
        metavar="P",
        help="upload nothing: measure the objects already under this key prefix",
    )
    watch = parser.add_argument_group("measuring")
    watch.add_argument(
        "--interval", type=float, default=5.0, help="seconds between samples (default 5)"
    )
    watch.add_argument(
        "--timeout",
        type=float,
        default=900.0,
        help="give up after this many seconds; the report is marked incomplete (default 900)",
    )
    watch.add_argument(
        "--out", type=Path, help="report folder (default: perf-<run id>); created if missing"
    )
    watch.add_argument(
        "--no-progress", action="store_true", help="no upload progress bar, no line per sample"
    )
    add_aws_options(parser)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "perf",
        help="run a load, sample until drained, write a report with plots",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    return parser


def _check(args: argparse.Namespace) -> None:
    if not args.interval > 0:
        raise SluiceCliError(f"--interval must be more than 0 seconds (got {args.interval:g})")
    if not args.timeout > 0:
        raise SluiceCliError(f"--timeout must be more than 0 seconds (got {args.timeout:g})")
    if args.prefix is not None and not args.prefix.strip():
        raise SluiceCliError("--prefix is empty: name the key prefix of the objects to measure")


def _simulated(run: Any) -> list[RunObject]:
    return [
        RunObject(key=u.key, uploaded_at=u.uploaded_at, rows=u.rows, broken=u.broken)
        for u in run.uploads
    ]


def _fresh_session(ctx: StackContext) -> StackContext:
    """The same deployment through a new boto3 Session: sessions are not thread-safe, so the
    upload thread gets its own while this one samples."""
    import boto3

    # profile_name says "default" even when no profile exists (environment credentials).
    profile = ctx.session.profile_name
    known = profile in ctx.session.available_profiles
    session = boto3.Session(profile_name=profile if known else None, region_name=ctx.region)
    return replace(ctx, session=session)


def run(args: argparse.Namespace) -> int:
    _check(args)
    plan = None if args.prefix is not None else plan_from_args(args)  # bad numbers fail before AWS
    ctx = resolve(args)
    from sluice_ops.monitor import snapshot

    dlq_url = ctx.output("ObjectDeadLetterQueueUrl")
    group = process_log_group(ctx)
    logs, sqs = ctx.client("logs"), ctx.client("sqs")
    progress = not args.no_progress and sys.stderr.isatty()

    def say(line: str) -> None:
        if not args.no_progress:
            print(line, file=sys.stderr)

    started_at = time.time()
    if plan is not None:
        run_id = plan.run_id
        mode = (
            f"simulate: {plan.objects} objects x {plan.rows_per_object} rows, "
            f"{plan.workers} upload workers; odd keys {plan.odd_key_share:.0%}, broken "
            f"{plan.broken_share:.0%}, priority {plan.priority_share:.0%}"
        )
        pool = ThreadPoolExecutor(max_workers=1)
        uploads = _fresh_session(ctx)
        load = pool.submit(lambda: _simulated(run_simulation(uploads, plan, progress)))
        pool.shutdown(wait=False)

        prefix = run_prefix(ctx, run_id)
    else:
        prefix = args.prefix
        objects = objects_under(ctx, prefix)
        run_id = prefix.strip("/").rsplit("/", 1)[-1] or prefix
        mode = f"watch {len(objects)} objects already under the prefix"
        load = loaded(objects)
    measurement = measure(
        ctx,
        snapshot=snapshot,
        load=load,
        log=lambda first_upload: ProcessedLog(logs, group, first_upload - CLOCK_SLACK_S),
        dead_letters=lambda keys: dead_letter_endings(sqs, dlq_url, keys),
        interval_s=args.interval,
        timeout_s=args.timeout,
        started_at=started_at,
        say=say,
    )
    info = RunInfo(
        run_id=run_id,
        stack=ctx.stack_name,
        region=ctx.region,
        endpoint=ctx.endpoint_url,
        prefix=prefix,
        mode=mode,
        parameters=dict(ctx.parameters),
        # With --prefix the run began at its first upload, before perf started.
        started_at=min([started_at, *(o.uploaded_at for o in measurement.accounting.objects)]),
        finished_at=measurement.finished_at,
        timed_out=measurement.timed_out,
        interrupted=measurement.interrupted,
        interval_s=args.interval,
        timeout_s=args.timeout,
        log_group=group,
    )
    out = args.out or Path(f"perf-{run_id}")
    written = write_report(out, info, measurement)
    accounting = measurement.accounting
    summary = (
        f"{len(accounting.ended('processed'))} processed, "
        f"{len(accounting.ended('dead-lettered'))} dead-lettered, "
        f"{len(accounting.unaccounted)} unaccounted of {len(accounting.objects)}"
    )
    print(f"run {run_id}: {summary}")
    for path in written:
        print(f"  {path}")
    if measurement.interrupted:
        print(f"sluice perf: interrupted; {out / 'report.md'} has what was seen", file=sys.stderr)
        return 130
    if measurement.timed_out:
        print(
            f"sluice perf: timed out after {args.timeout:g} s with "
            f"{len(accounting.unaccounted)} objects not processed or dead-lettered; "
            f"{out / 'report.md'} is marked INCOMPLETE",
            file=sys.stderr,
        )
        return 1
    return 0
