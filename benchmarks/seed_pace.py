"""The seed workload at its specified pace: slow rows, resumable objects, ten downstream slots.

    .venv/bin/python benchmarks/seed_pace.py [--objects 100 --rows 50 --latency 5-30]
    .venv/bin/python benchmarks/seed_pace.py --time-scale 0.1 --objects 50   # closer to AWS

100 objects of 50 rows each; the downstream answers each row in 5-30 s (uniform, seeded), as
specified; MaxConcurrency 10; the template's defaults otherwise (FunctionTimeout 120,
DownstreamTimeoutSeconds 35). An object needs about 50 x 17.5 s = 15 minutes of requests, far
more than one invocation: ProcessObject works until one more worst-case request (35 s) no
longer fits its deadline, saves its checkpoint and returns unfinished, and the drain continues
the object from a fresh message (ContinueLater).

Time scale: the run lasts minutes, not hours, because the downstream sleeps its 5-30 s times
--time-scale. The local runtime enforces Lambda timeouts in real seconds and the handler budgets
with DownstreamTimeoutSeconds in real seconds, so both are scaled too (--no-scale-timeouts keeps
them as given, which lets a whole object fit one invocation: not the workload). Left in real
time, and so relatively larger than on AWS: the handler's 1 s stop margin, Lambda and Step
Functions overhead per invocation (the emulator's CPU), the drain's rounds (ScaleCooldownSeconds)
and SQS visibility timeouts. Everything scaled is printed.

Prints: objects processed / dead-lettered / lost and duplicate rows; continuations per object
(ProcessObject results with unfinished=true); utilization of the MaxConcurrency slots (time-
weighted mean of downstream requests in flight / MaxConcurrency, goal >= 0.95) and where the
rest went: slots with no ProcessObject invocation (drain rounds, Step Functions, Lambda) and
invocation time not spent waiting on the downstream (S3, checkpoint writes, the stop margin).
Asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter

from bound import utilization
from local_runs import LOG_DIR, ROOT  # benchmarks/ is on sys.path when run

from sluice_local.emulator.runtime import LocalPipeline
from sluice_local.jobs.demo import describe_latency, run_job, sample_objects
from sluice_local.jobs.report import report_run
from sluice_local.servers.downstream import DownstreamServer, RecordedRequest, parse_latency


def execution_outcomes(pipeline: LocalPipeline) -> Counter[str]:
    """Drain executions by status, failed ones by their error."""
    sfn = pipeline.client("stepfunctions")
    outcomes: Counter[str] = Counter()
    for execution in pipeline.executions("DrainStateMachine"):
        status = execution["status"]
        if status == "FAILED":
            detail = sfn.describe_execution(executionArn=execution["executionArn"])
            status += f" ({detail.get('error', '?')}: {str(detail.get('cause', ''))[:80]})"
        outcomes[status] += 1
    return outcomes


def in_flight_profile(requests: list[RecordedRequest], start: float, end: float) -> Counter[int]:
    """Seconds spent with n requests in flight, for each n, between ``start`` and ``end``."""
    edges = sorted(
        [(r.started, 1) for r in requests] + [(r.finished, -1) for r in requests],
        key=lambda edge: (edge[0], edge[1]),
    )
    profile: Counter[int] = Counter()
    level, at = 0, start
    for when, step in edges:
        when = min(max(when, start), end)
        profile[level] += when - at
        level, at = level + step, when
    profile[level] += end - at
    return profile


def invocation_rows(stats: object) -> tuple[Counter[str], list[int], Counter[str]]:
    """(continuations per object key, rows sent per finished-or-unfinished invocation, outcome
    counts) from every ProcessObject invocation the dispatcher recorded."""
    continued: Counter[str] = Counter()
    rows: list[int] = []
    outcomes: Counter[str] = Counter()
    for invocation in stats.results("ProcessObjectFunction"):  # type: ignore[attr-defined]
        result = invocation.result
        if invocation.errored:
            outcomes[f"error {result.get('errorType')}"] += 1
            continue
        if result.get("unfinished"):
            continued[result.get("key")] += 1
            outcomes["unfinished (continued)"] += 1
        elif result.get("postponed"):
            outcomes["postponed (no time to start)"] += 1
            continue
        else:
            outcomes["finished"] += 1
        rows.append(int(result.get("rows_sent", 0)))
    return continued, rows, outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=100)
    parser.add_argument("--rows", type=int, default=50)
    parser.add_argument(
        "--latency",
        default="5-30",
        help="downstream seconds a row, LOW-HIGH drawn per request (AWS seconds, time-scaled)",
    )
    parser.add_argument("--max-concurrency", type=int, default=10)
    parser.add_argument("--function-timeout", type=float, default=120.0, help="AWS seconds")
    parser.add_argument("--downstream-timeout", type=float, default=35.0, help="AWS seconds")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=0.05,
        help="AWS seconds -> real seconds; 0.05 keeps FunctionTimeout a whole number of seconds"
        " (6) and DownstreamTimeoutSeconds at least the template's minimum of 1 (1.75)",
    )
    parser.add_argument(
        "--no-scale-timeouts",
        dest="scale_timeouts",
        action="store_false",
        help="keep FunctionTimeout and DownstreamTimeoutSeconds in real seconds as given",
    )
    parser.add_argument("--timeout", type=float, default=1800.0, help="give up after (real s)")
    parser.add_argument(
        "--scale-rounds",
        action="store_true",
        help="also scale the drain's rounds (ScaleCooldownSeconds 30 s, MaxStaggerSeconds 30 s)"
        " so that a round is as short against an invocation as on AWS",
    )
    parser.add_argument("--progress", action="store_true", help="print progress every second")
    args = parser.parse_args()

    scale = args.time_scale
    latency = parse_latency(args.latency, time_scaled=True)
    if args.scale_timeouts:
        function_timeout = max(3, round(args.function_timeout * scale))
        downstream_timeout = max(1.0, args.downstream_timeout * scale)
    else:
        function_timeout = round(args.function_timeout)
        downstream_timeout = args.downstream_timeout
    overrides = {
        "MaxConcurrency": str(args.max_concurrency),
        "FunctionTimeout": str(function_timeout),
        "DownstreamTimeoutSeconds": f"{downstream_timeout:g}",
    }
    if args.scale_rounds:
        # PlanBatch reads MaxStaggerSeconds as whole seconds.
        overrides["ScaleCooldownSeconds"] = f"{30 * scale:g}"
        overrides["MaxStaggerSeconds"] = str(max(1, round(30 * scale)))
    print("scaled to real seconds (x time scale):")
    print(f"  downstream latency        {describe_latency(latency.setting(), scale)}")
    if args.scale_timeouts:
        print(
            f"  FunctionTimeout           {args.function_timeout:g} s x {scale:g} ="
            f" {function_timeout} s real (Lambda timeouts are whole seconds)"
        )
        print(
            f"  DownstreamTimeoutSeconds  {args.downstream_timeout:g} s x {scale:g} ="
            f" {downstream_timeout:g} s real"
        )
    else:
        print(
            f"  NOT scaled: FunctionTimeout {function_timeout} s, DownstreamTimeoutSeconds"
            f" {downstream_timeout:g} s, in real seconds"
        )
    if args.scale_rounds:
        print(
            f"  ScaleCooldownSeconds      30 s x {scale:g} = {overrides['ScaleCooldownSeconds']} s"
            f" real (a drain round); MaxStaggerSeconds 30 s -> {overrides['MaxStaggerSeconds']} s"
            " (whole seconds)"
        )
    print("  Wait states, Retry intervals, SQS long polls, schedules (the runtime's time scale)")
    print(
        "not scaled (real seconds, so relatively larger than on AWS): the handler's 1 s stop"
        " margin, Lambda/Step Functions/S3/DynamoDB call time, the drain lease's fixed slack"
        " (5 s start, 15 s margin, 30 s retry waits), SQS visibility timeouts"
        + ("" if args.scale_rounds else ", drain rounds (ScaleCooldownSeconds 30 s)")
    )
    print(f"parameter overrides: {overrides}")
    sys.stdout.flush()

    objects = sample_objects(args.objects, args.rows, failing=0)
    started = time.monotonic()
    with (
        DownstreamServer(latency=latency, time_scale=scale, seed=7) as downstream,
        LocalPipeline(
            ROOT / "template.yaml",
            {"DownstreamApiUrl": downstream.url, **overrides},
            time_scale=scale,
            log_dir=LOG_DIR,
        ) as pipeline,
    ):
        deployed_in = time.monotonic() - started
        cpu, wall = time.process_time(), time.monotonic()
        report = run_job(
            pipeline,
            downstream,
            objects,
            timeout=args.timeout,
            progress=(lambda line: print(line, flush=True)) if args.progress else None,
        )
        cores = (time.process_time() - cpu) / (time.monotonic() - wall)
        requests = list(downstream.requests)
        stats = pipeline.dispatcher.stats
        busy = stats.busy_seconds["ProcessObjectFunction"]
        drains = execution_outcomes(pipeline)
        report_run(pipeline, ROOT, "bench:seed_pace", report)

    limit = args.max_concurrency
    continued, rows_per_invocation, outcomes = invocation_rows(stats)
    retries = sum(
        int(i.result.get("retries", 0))
        for i in stats.results("ProcessObjectFunction")
        if not i.errored
    )
    per_object = [continued.get(o.key, 0) for o in objects]
    used, window = utilization(requests, limit)
    downstream_busy = sum(r.finished - r.started for r in requests)
    first = min(r.started for r in requests) if requests else 0.0
    last = max(r.finished for r in requests) if requests else 0.0
    profile = in_flight_profile(requests, first, last)
    full = profile.get(limit, 0.0) + sum(s for n, s in profile.items() if n > limit)
    occupancy = busy / (limit * window) if window else 0.0
    waiting = downstream_busy / busy if busy else 0.0
    ideal = downstream_busy / limit

    print(f"objects x rows              {report.uploaded} x {args.rows}")
    print(f"MaxConcurrency              {limit}")
    print(f"deploy                      {deployed_in:.1f} s")
    print(
        f"processed / dead / lost     {report.processed} / {len(report.dead_lettered)} / "
        f"{len(report.unaccounted)}"
    )
    print(
        f"rows received / duplicates  {report.rows_received} of {report.rows_expected} /"
        f" {report.duplicate_rows} (same Idempotency-Key: {report.duplicates_same_key};"
        f" retries: {retries}, each after a client timeout, as the server only answers 200;"
        f" ProcessObject timeouts: {report.timeouts})"
    )
    if per_object:
        low, mid, high = min(per_object), statistics.median(per_object), max(per_object)
        print(
            f"continuations per object    min {low} / median {mid:g} / max {high}"
            f" (total {sum(per_object)})"
        )
    if rows_per_invocation:
        low, mid, high = (
            min(rows_per_invocation),
            statistics.median(rows_per_invocation),
            max(rows_per_invocation),
        )
        print(f"rows per invocation         min {low} / median {mid:g} / max {high}")
    print(f"ProcessObject invocations   {stats.invocations['ProcessObjectFunction']}")
    for outcome, count in sorted(outcomes.items()):
        print(f"  {outcome:<30}{count}")
    print(f"requests / peak in flight   {len(requests)} / {report.peak_in_flight} (limit {limit})")
    print(
        f"utilization of the slots    {used:.3f} (mean in flight {used * limit:.2f} / {limit},"
        f" first request to last, {window:.1f} s)"
    )
    if window:
        shares = ", ".join(f"{n}: {profile.get(n, 0.0) / window:.1%}" for n in range(limit, -1, -1))
        print(f"  time with n in flight     {shares}")
        print(f"  all {limit} slots busy        {full / window:.1%} of that time")
    if report.wall_seconds:
        print(
            f"  over the whole run        {downstream_busy / (limit * report.wall_seconds):.3f}"
            f" (upload to drained, {report.wall_seconds:.1f} s)"
        )
    print(
        f"  slot occupancy by ProcessObject  {occupancy:.3f} (invocation seconds / slots x"
        " window): the rest is between invocations (drain, Step Functions, Lambda)"
    )
    print(
        f"  of invocation time, waiting on the downstream  {waiting:.3f}: the rest is S3,"
        " checkpoint writes, the end of each invocation's budget"
    )
    invocations = stats.invocations["ProcessObjectFunction"]
    if invocations:
        idle = limit * window - busy
        print(
            f"  slot time between invocations  {idle / invocations:.2f} s per invocation"
            f" (invocations {busy / invocations:.2f} s long on average)"
        )
    print(
        f"ideal wall time             {ideal:.1f} s (request seconds / {limit});"
        f" measured {window:.1f} s"
    )
    print(f"wall time                   {report.wall_seconds:.1f} s")
    print(f"drain executions            {report.executions}")
    for status, count in sorted(drains.items()):
        print(f"  {status:<30}{count}")
    print(f"state transitions           {report.state_transitions}")
    print(f"emulator CPU                {cores:.2f} cores busy on average")


if __name__ == "__main__":
    main()
