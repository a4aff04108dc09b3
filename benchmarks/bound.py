"""The global concurrency bound under a burst with overlapping triggers, and how well it is used.

    .venv/bin/python benchmarks/bound.py [--objects 1000 --rows 5 --max-concurrency 5]
    .venv/bin/python benchmarks/bound.py --latency-ms 200   # the issue's pace run (~5 minutes)

Uploads a burst of objects, then starts extra drain executions at once beside the schedule's
(overlapping triggers). With --lease-broken every drain is told it holds the lease, so drains
pile up and only ProcessObject's reserved concurrency stands between them and the downstream.
The local downstream records every request's start and end; from those:

- peak in flight / limit (goal <= 1.00) and violations (requests that started with more than
  MaxConcurrency in flight, goal 0);
- utilization while a backlog exists: the time-weighted mean of requests in flight divided by
  the limit, from the first request to the last (goal >= 0.95 at 200 ms a row: --latency-ms
  200; it was 0.85-0.90 before resumable processing);
- where the rest of the slots' time went: slot occupancy by ProcessObject invocations (the rest
  is between invocations: Step Functions, the drain's Lambdas, SQS) and the share of invocation
  time spent waiting on the downstream (the rest is S3, checkpoint writes between rows, parsing);
- the emulator's CPU use, in cores: every service, function and the downstream run in this one
  Python process, so near 1.0 it is the emulator, not the drain, that limits utilization.

--latency-ms is real seconds a request (never time-scaled), against real Lambda timeouts;
FunctionTimeout 60 takes DownstreamTimeoutSeconds of at most 30 (the template's Rules).

Prints figures; asserts nothing. Waits are time-scaled (printed).
"""

from __future__ import annotations

import argparse
import time

from local_runs import LOG_DIR, ROOT  # benchmarks/ is on sys.path when run

from sluice_local.emulator.faults import lease_always_held
from sluice_local.jobs.demo import deployed, run_job, sample_objects
from sluice_local.jobs.report import report_run
from sluice_local.servers.downstream import RecordedRequest


def utilization(requests: list[RecordedRequest], limit: int) -> tuple[float, float]:
    """(time-weighted mean in flight / limit, window seconds) from first start to last end."""
    if not requests:
        return 0.0, 0.0
    start = min(r.started for r in requests)
    end = max(r.finished for r in requests)
    busy = sum(r.finished - r.started for r in requests)
    window = end - start
    return (busy / window / limit if window else 0.0), window


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=5)
    parser.add_argument("--max-concurrency", type=int, default=5)
    parser.add_argument("--extra-drains", type=int, default=4)
    parser.add_argument(
        "--lease-broken",
        action="store_true",
        help="every drain, the schedule's too, is told it holds the lease: drains pile up and only"
        " reserved concurrency bounds the load",
    )
    parser.add_argument("--latency-ms", type=float, default=20.0, help="real ms a request")
    parser.add_argument(
        "--downstream-timeout",
        default="30",
        help="DownstreamTimeoutSeconds (FunctionTimeout 60 allows at most 30)",
    )
    parser.add_argument(
        "--checkpoint-rows", help="CheckpointRows (default: the template's, 1: a write a row)"
    )
    parser.add_argument("--time-scale", type=float, default=0.02)
    args = parser.parse_args()

    overrides = {
        "MaxConcurrency": str(args.max_concurrency),
        "FunctionTimeout": "60",
        "DownstreamTimeoutSeconds": args.downstream_timeout,
        "QueueVisibilityTimeoutSeconds": "360",
    }
    if args.checkpoint_rows:
        overrides["CheckpointRows"] = args.checkpoint_rows
    objects = sample_objects(args.objects, args.rows, failing=0)
    with deployed(
        ROOT / "template.yaml",
        overrides,
        time_scale=args.time_scale,
        latency_s=args.latency_ms / 1000,
        log_dir=LOG_DIR,
    ) as (pipeline, downstream):
        if args.lease_broken:
            pipeline.dispatcher.result_hook = lease_always_held
        cpu, wall = time.process_time(), time.monotonic()
        report = run_job(
            pipeline,
            downstream,
            objects,
            timeout=3600,
            extra_drains=args.extra_drains,
        )
        cores = (time.process_time() - cpu) / (time.monotonic() - wall)
        requests = list(downstream.requests)
        stats = pipeline.dispatcher.stats
        busy = stats.busy_seconds["ProcessObjectFunction"]
        invocations = stats.invocations["ProcessObjectFunction"]
        report_run(pipeline, ROOT, "bench:bound", report)
    limit = args.max_concurrency
    violations = sum(1 for r in requests if r.in_flight_at_start > limit)
    used, window = utilization(requests, limit)
    print(f"objects x rows              {report.uploaded} x {args.rows}")
    print(f"MaxConcurrency              {limit}")
    lease = "broken (every drain told it holds it)" if args.lease_broken else "working"
    print(f"overlapping drains          schedule + {args.extra_drains} at once; lease {lease}")
    print(f"downstream latency          {args.latency_ms:g} ms; time scale {args.time_scale:g}")
    print(f"FunctionTimeout / timeout   60 s / DownstreamTimeoutSeconds {args.downstream_timeout}")
    print(
        f"processed / dead / lost     {report.processed} / {len(report.dead_lettered)} / "
        f"{len(report.unaccounted)}"
    )
    print(f"duplicate rows downstream   {report.duplicate_rows}")
    print(
        f"peak in flight / limit      {report.peak_in_flight} / {limit} = "
        f"{report.peak_in_flight / limit:.2f}"
    )
    print(f"violations                  {violations} of {len(requests)} requests")
    print(f"throttled invocations       {stats.throttles.get('ProcessObjectFunction', 0)}")
    print(f"utilization under backlog   {used:.2f} over {window:.1f} s")
    waiting = sum(r.finished - r.started for r in requests)
    if window and busy:
        print(
            f"  slot occupancy            {busy / (limit * window):.3f} (ProcessObject seconds /"
            " slots x window; the rest is between invocations)"
        )
        print(
            f"  waiting on the downstream {waiting / busy:.3f} of invocation time (the rest: S3,"
            f" checkpoint writes, parsing); CheckpointRows {args.checkpoint_rows or 1}"
        )
        print(
            f"  between invocations       {(limit * window - busy) / invocations:.3f} s a slot"
            f" per invocation ({invocations} invocations of {busy / invocations:.3f} s)"
        )
    print(f"wall time                   {report.wall_seconds:.1f} s")
    # Every emulated service, function and the downstream share this one process: near 1.0
    # the emulator's CPU (one GIL), not the drain, is what limits utilization.
    print(f"emulator CPU                {cores:.2f} cores busy on average")


if __name__ == "__main__":
    main()
