"""The demo: upload sample CSVs, run the pipeline from template.yaml until drained, account for all.

Also the engine of the e2e tests and benchmarks: :func:`run_job` returns the same
:class:`JobReport` the demo prints.
"""

from __future__ import annotations

import csv
import io
import random
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from sluice_local.emulator.runtime import LocalPipeline
from sluice_local.jobs.job import (
    downstream_api,
    job_inputs,
    job_pipeline,
    opening,
    substitution_notes,
    time_scale_line,
    verdict,
)
from sluice_local.jobs.report import (
    build_report,
    summary_lines,
    write_report,
)
from sluice_local.servers.downstream import DownstreamServer, Latency
from sluice_local.terminal import printable

# Odd but legal keys: spaces, '+', ':', '%', unicode, nested prefixes.
_ODD_KEYS = [
    "incoming/orders 2024-01.csv",
    "incoming/a+b=c.csv",
    "incoming/time:12:30.csv",
    "incoming/100%-done.csv",
    "incoming/naïve café/ümlaut ✓.csv",
]


@dataclass(frozen=True)
class SampleObject:
    key: str
    body: bytes
    rows: int  # data rows a correct pipeline sends downstream
    expect: str  # "processed" or the error name it must be dead-lettered with


def sample_objects(
    count: int, rows: int, *, failing: int = 2, seed: int = 7, prefix: str = "incoming/"
) -> list[SampleObject]:
    """`count` CSV objects of `rows` rows (quoted fields, odd keys) plus `failing` bad ones."""
    rng = random.Random(seed)  # noqa: S311 - sample data, not security
    objects = []
    for index in range(count):
        key = (
            _ODD_KEYS[index].replace("incoming/", prefix, 1)
            if index < len(_ODD_KEYS)
            else f"{prefix}batch-{index // 10:03d}/object-{index:05d}.csv"
        )
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["id", "customer", "amount", "note"])
        for row in range(rows):
            note = rng.choice(["plain", 'says "hi", twice', "multi\nline", "comma, inside", ""])
            writer.writerow([f"{index}-{row}", f"customer {rng.randint(1, 999)}", row, note])
        objects.append(SampleObject(key, buffer.getvalue().encode(), rows, "processed"))
    bad = [
        SampleObject(
            f"{prefix}broken/binary.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR", 0, "NotCsv"
        ),
        SampleObject(f"{prefix}broken/empty.csv", b"", 0, "EmptyObject"),
    ]
    return objects + bad[:failing]


@dataclass
class JobReport:
    uploaded: int
    processed: int
    dead_lettered: dict[str, str]  # key -> reason
    unaccounted: list[str]
    rows_expected: int
    rows_received: int
    duplicate_rows: int
    peak_in_flight: int
    max_concurrency: int
    state_transitions: int
    executions: int
    wall_seconds: float
    time_scale: float
    invocations: dict[str, int] = field(default_factory=dict)
    throttles: dict[str, int] = field(default_factory=dict)  # reserved concurrency at work
    # Rows accepted twice under one Idempotency-Key, and ProcessObject invocations stopped at
    # their Timeout: each can leave the one row whose request was in flight to be sent again
    # (the window README "Nothing lost, nothing delivered twice" leaves to the downstream).
    duplicates_same_key: int = 0
    timeouts: int = 0
    # AWS's limits as the run met them (IAM calls checked, longest invocation vs its Timeout).
    limit_lines: list[tuple[str, str]] = field(default_factory=list)
    # {"seconds": 0.2 | [low, high], "time_scaled": bool}: what the downstream slept a request.
    downstream_latency: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.unaccounted and self.duplicates_explained

    @property
    def duplicates_explained(self) -> bool:
        return self.duplicate_rows == self.duplicates_same_key <= self.timeouts

    def table(self) -> str:
        reasons = Counter(reason.split(":", 1)[0] for reason in self.dead_lettered.values())
        rows = [
            ("objects uploaded", str(self.uploaded)),
            ("objects processed", str(self.processed)),
            (
                "objects dead-lettered",
                f"{len(self.dead_lettered)}"
                + (
                    f"  ({', '.join(f'{printable(k)}: {v}' for k, v in sorted(reasons.items()))})"
                    if reasons
                    else ""
                ),
            ),
            ("objects unaccounted for", str(len(self.unaccounted))),
            ("rows sent downstream", f"{self.rows_received} of {self.rows_expected} expected"),
            (
                "duplicate rows downstream",
                str(self.duplicate_rows)
                + (
                    f"  (same Idempotency-Key: {self.duplicates_same_key}; ProcessObject stopped"
                    f" at its Timeout {self.timeouts}x, mid-row)"
                    if self.duplicate_rows
                    else ""
                ),
            ),
            (
                "peak concurrent downstream calls",
                f"{self.peak_in_flight} (limit MaxConcurrency={self.max_concurrency})",
            ),
            ("drain executions", str(self.executions)),
            (
                "state transitions",
                f"{self.state_transitions} ({self.state_transitions / max(1, self.uploaded):.1f}"
                " per object)",
            ),
            ("wall time", f"{self.wall_seconds:.1f} s (time scale {self.time_scale:g})"),
            *(
                [("downstream latency", describe_latency(self.downstream_latency, self.time_scale))]
                if self.downstream_latency
                else []
            ),
            *self.limit_lines,
        ]
        width = max(len(name) for name, _ in rows)
        lines = [f"  {name.ljust(width)}  {value}" for name, value in rows]
        # Keys and reasons are the uploaders' text (cut before escaping: no half an escape).
        for key, reason in sorted(self.dead_lettered.items()):
            lines.append(f"    dead letter: {printable(key)} -> {printable(reason[:140])}")
        for key in self.unaccounted:
            lines.append(f"    UNACCOUNTED: {printable(key)}")
        return "\n".join(lines)


def upload(pipeline: LocalPipeline, objects: list[SampleObject], workers: int = 8) -> None:
    s3 = pipeline.client("s3")
    bucket = pipeline.outputs["BucketName"]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda o: s3.put_object(Bucket=bucket, Key=o.key, Body=o.body), objects))


def run_job(
    pipeline: LocalPipeline,
    downstream: DownstreamServer,
    objects: list[SampleObject],
    *,
    timeout: float = 600.0,
    progress: Callable[[str], None] | None = None,
    extra_drains: int = 0,
    after_upload: Callable[[], None] | None = None,
) -> JobReport:
    """Upload `objects`, let the template's schedule drain them, and account for each one.

    ``extra_drains`` more drain executions start at once beside the schedule's (overlapping
    triggers, as a duplicate Express start or a person would make). ``after_upload`` runs once
    the objects are uploaded (e.g. to send priority messages behind the backlog).
    """
    started = time.monotonic()
    upload(pipeline, objects)
    if after_upload is not None:
        after_upload()
    pipeline.start_schedules(fire_now=True)
    if extra_drains:
        sfn = pipeline.client("stepfunctions")
        drain = pipeline.state_machine_arns["DrainStateMachine"]
        with ThreadPoolExecutor(max_workers=extra_drains) as pool:
            list(
                pool.map(
                    lambda n: sfn.start_execution(
                        stateMachineArn=drain,
                        name=f"overlap-{n}-{uuid.uuid4().hex[:6]}",
                        input="{}",
                    ),
                    range(extra_drains),
                )
            )
    deadline = started + timeout
    keys = {o.key for o in objects}
    last_print = 0.0
    while True:
        visible, in_flight = pipeline.queue_counts("ObjectQueueUrl")
        dead, _ = pipeline.queue_counts("ObjectDeadLetterQueueUrl")
        done = _processed_keys(pipeline) & keys
        finished = len(done) + dead
        now = time.monotonic()
        if progress and now - last_print >= 1.0:
            last_print = now
            progress(
                f"[{now - started:6.1f}s] objects {finished}/{len(objects)} done"
                f" ({dead} dead-lettered) | rows sent {len(downstream.accepted())}"
                f" | queue {visible} waiting, {in_flight} in flight"
                f" | downstream in flight {downstream.in_flight} (peak {downstream.peak_in_flight})"
            )
        if finished >= len(objects) and visible == 0 and in_flight == 0:
            break
        if now > deadline:
            break
        time.sleep(0.5)  # counting a deep queue costs moto O(messages): poll gently
    pipeline.stop_schedules()
    pipeline.wait_for_executions("DrainStateMachine", timeout=60)
    return account(pipeline, downstream, objects, time.monotonic() - started)


def _processed_keys(pipeline: LocalPipeline) -> set[str]:
    """Objects whose processing finished (not unfinished or postponed) with no failed rows."""
    keys = set()
    for invocation in pipeline.dispatcher.stats.results("ProcessObjectFunction"):
        result = invocation.result
        if invocation.errored or result.get("rows_failed", 0) or result.get("postponed"):
            continue
        keys.add(result.get("key"))
    return keys


def account(
    pipeline: LocalPipeline,
    downstream: DownstreamServer,
    objects: list[SampleObject],
    wall_seconds: float,
) -> JobReport:
    keys = {o.key for o in objects}
    dead = {d.object_key or d.body[:60]: d.reason for d in pipeline.dead_letters()}
    processed = (_processed_keys(pipeline) & keys) - set(dead)
    accepted = downstream.accepted()
    received_keys = Counter(
        (r.body.get("key"), r.body.get("row")) for r in accepted if isinstance(r.body, dict)
    )
    sent_under: dict[tuple[Any, Any], set[str]] = {}
    for r in accepted:
        if isinstance(r.body, dict):
            row = (r.body.get("key"), r.body.get("row"))
            sent_under.setdefault(row, set()).add(r.headers.get("Idempotency-Key", ""))
    assert pipeline.translated is not None
    return JobReport(
        uploaded=len(objects),
        processed=len(processed),
        dead_lettered=dead,
        unaccounted=sorted(keys - processed - set(dead)),
        rows_expected=sum(o.rows for o in objects if o.expect == "processed"),
        rows_received=len(received_keys),
        duplicate_rows=sum(n - 1 for n in received_keys.values() if n > 1),
        peak_in_flight=downstream.peak_in_flight,
        max_concurrency=int(pipeline.translated.parameters["MaxConcurrency"]),
        state_transitions=pipeline.state_transitions("DrainStateMachine"),
        executions=len(pipeline.executions("DrainStateMachine")),
        wall_seconds=wall_seconds,
        time_scale=pipeline.time_scale,
        invocations=dict(pipeline.dispatcher.stats.invocations),
        throttles=dict(pipeline.dispatcher.stats.throttles),
        limit_lines=summary_lines(build_report(pipeline, job="demo")),
        downstream_latency=downstream.latency_setting(),
        duplicates_same_key=sum(
            1 for row, n in received_keys.items() if n > 1 and len(sent_under[row]) == 1
        ),
        timeouts=pipeline.dispatcher.stats.timeouts["ProcessObjectFunction"],
    )


def describe_latency(setting: dict[str, Any], time_scale: float) -> str:
    """``5-30 s a request, x time scale 0.05 = 0.25-1.5 s real`` or ``0.2 s a request, real``."""
    seconds = setting["seconds"]
    low, high = (seconds, seconds) if isinstance(seconds, int | float) else seconds
    span = f"{low:g}" if low == high else f"{low:g}-{high:g}"
    if not setting["time_scaled"]:
        return f"{span} s a request (real seconds, not time-scaled)"
    real = f"{low * time_scale:g}" if low == high else f"{low * time_scale:g}-{high * time_scale:g}"
    return f"{span} s a request x time scale {time_scale:g} = {real} s real"


def main(args: Any, out: TextIO | None = None) -> int:
    out = out or sys.stdout  # looked up now: a default bound at import would miss a redirect

    def say(line: str) -> None:
        print(line, file=out)

    template, overrides, report_path = job_inputs(args)
    objects = sample_objects(args.objects, args.rows, failing=args.failing)
    latency = args.downstream_latency
    if not isinstance(latency, Latency):  # a number, as callers passed before ranges existed
        latency = Latency(float(latency), float(latency), time_scaled=False)
    with downstream_api(latency, args.time_scale, overrides) as downstream:
        opening(say, "Sluice local demo", template, overrides)
        say(time_scale_line(args.time_scale))
        say(
            f"  downstream API: {downstream.url} (local server, real HTTP),"
            f" {describe_latency(latency.setting(), args.time_scale)}"
        )
        log_dir = Path(args.log_dir)
        say(f"  function logs: {log_dir}/<LogicalId>.log (what CloudWatch Logs would hold)")
        with job_pipeline(args, template, overrides, say) as pipeline:
            substitution_notes(say, pipeline)
            say(f"  uploading {len(objects)} objects to s3://{pipeline.outputs['BucketName']}")
            report = run_job(
                pipeline,
                downstream,
                objects,
                timeout=args.timeout,
                progress=lambda line: print(line, file=out, flush=True),
            )
            write_report(
                pipeline,
                report_path,
                job="demo",
                summary=report,
                downstream_latency=report.downstream_latency,
            )
    say("\nSummary")
    say(report.table())
    failure = (
        "some objects are unaccounted for or rows were sent twice other than with their"
        " Idempotency-Key after a timeout"
    )
    return verdict(
        say,
        report_path,
        None if report.ok else failure,
        "every object is processed or dead-lettered with a reason",
    )


@contextmanager
def deployed(
    template: Path,
    overrides: dict[str, str] | None = None,
    *,
    time_scale: float = 0.02,
    log_dir: Path | None = None,
    secrets: dict[str, str] | None = None,
    lenient: bool = False,
    **downstream_options: Any,
) -> Iterator[tuple[LocalPipeline, DownstreamServer]]:
    """The template deployed locally, its DownstreamApiUrl pointing at a fresh local server.

    Function logs go to ``log_dir/<LogicalId>.log`` when given, else to stdout."""
    with DownstreamServer(**downstream_options) as downstream:
        params = {"DownstreamApiUrl": downstream.url, **(overrides or {})}
        with LocalPipeline(
            template,
            params,
            time_scale=time_scale,
            log_dir=log_dir,
            secrets=secrets,
            lenient=lenient,
        ) as pipeline:
            yield pipeline, downstream


@contextmanager
def express_limit(pipeline: LocalPipeline, seconds: float) -> Iterator[None]:
    """While active, an Express execution's limit is ``seconds`` instead of AWS's 300, in the
    emulator's enforcement and in the drain lease's budget alike (``lease`` is DrainLease's
    module, loaded with its handler). A drain then hands over to a fresh execution within a
    short run, by its own HoldLease and HandOver as near 5 minutes on AWS; an execution that
    overran the shorter limit would end TIMED_OUT."""
    from sluice_local.emulator import fixes as emulator_fixes

    lease: Any = sys.modules["lease"]
    aws = emulator_fixes.EXPRESS_LIMIT_SECONDS, lease.EXPRESS_LIMIT_SECONDS

    def limit(emulator_s: float, lease_s: float) -> None:
        emulator_fixes.EXPRESS_LIMIT_SECONDS, lease.EXPRESS_LIMIT_SECONDS = emulator_s, lease_s

    limit(seconds, seconds)
    try:
        yield
    finally:
        limit(*aws)


def redefine_state_machine(
    pipeline: LocalPipeline, logical_id: str, definition: dict[str, Any]
) -> None:
    """Deploy a new definition of a state machine, as a stack update does (UpdateStateMachine,
    the template's DefinitionSubstitutions resolved): executions started from now on run it;
    running ones keep the definition they started with."""
    from sluice_local.emulator.template import substitute

    values = pipeline._resolved(logical_id, "DefinitionSubstitutions") or {}
    pipeline.client("stepfunctions").update_state_machine(
        stateMachineArn=pipeline.state_machine_arns[logical_id],
        definition=substitute(definition, values),
    )


class InvocationStarts:
    """When each Lambda invocation began, as a dispatcher crash hook that injects nothing
    (``pipeline.dispatcher.stats.history`` records invocations as they end)."""

    def __init__(self) -> None:
        self.records: list[tuple[float, str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, logical_id: str, event: Any) -> None:
        with self._lock:
            self.records.append((time.monotonic(), logical_id, event))

    def of(self, logical_id: str, where: Callable[[Any], bool] = lambda _: True) -> list[float]:
        with self._lock:
            return [t for t, lid, event in self.records if lid == logical_id and where(event)]


def process_results(
    pipeline: LocalPipeline, key: str | None = None
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(event, result) of the ProcessObject invocations that returned (of ``key`` when given),
    in the order they ended."""
    return [
        (i.event, i.result)
        for i in pipeline.dispatcher.stats.results("ProcessObjectFunction")
        if not i.errored and (key is None or i.result.get("key") == key)
    ]


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
