"""Wall time and state transitions per object of a local run through the real template.

    .venv/bin/python benchmarks/local_run.py --objects 1000 --rows 10
    .venv/bin/python benchmarks/local_run.py --objects 10000 --rows 2   # the load run (~17 min)

Prints figures; asserts nothing. Waits are time-scaled (printed), so wall time measures the
emulator and the handlers, not AWS.
"""

from __future__ import annotations

import argparse
import time

from local_runs import LOG_DIR, ROOT  # benchmarks/ is on sys.path when run

from sluice_local.jobs.demo import deployed, run_job, sample_objects
from sluice_local.jobs.report import report_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=10)
    parser.add_argument("--max-concurrency", default="10")
    parser.add_argument("--time-scale", type=float, default=0.02)
    args = parser.parse_args()

    objects = sample_objects(args.objects, args.rows, failing=0)
    overrides = {
        "MaxConcurrency": args.max_concurrency,
        "FunctionTimeout": "60",
        "DownstreamTimeoutSeconds": "30",  # the Rules: at most half of FunctionTimeout
        "QueueVisibilityTimeoutSeconds": "360",
    }
    started = time.monotonic()
    with deployed(
        ROOT / "template.yaml",
        overrides,
        time_scale=args.time_scale,
        latency_s=0.001,
        log_dir=LOG_DIR,
    ) as (pipeline, downstream):
        deployed_in = time.monotonic() - started
        report = run_job(pipeline, downstream, objects, timeout=3600)
        report_run(pipeline, ROOT, "bench:local_run", report)
    print(f"objects                     {report.uploaded} x {args.rows} rows")
    print(f"MaxConcurrency              {report.max_concurrency}")
    print(f"time scale                  {report.time_scale:g}")
    print(f"deploy (translate + stack)  {deployed_in:.1f} s")
    print(f"wall time (upload->drained) {report.wall_seconds:.1f} s")
    print(f"objects/s                   {report.uploaded / report.wall_seconds:.1f}")
    print(
        f"processed / dead / lost     {report.processed} / {len(report.dead_lettered)} / "
        f"{len(report.unaccounted)}"
    )
    print(f"rows received / duplicates  {report.rows_received} / {report.duplicate_rows}")
    print(f"peak downstream in flight   {report.peak_in_flight} (limit {report.max_concurrency})")
    print(f"drain executions            {report.executions}")
    print(f"state transitions           {report.state_transitions}")
    print(f"transitions per object      {report.state_transitions / report.uploaded:.2f}")
    print(f"Lambda invocations          {report.invocations}")


if __name__ == "__main__":
    main()
