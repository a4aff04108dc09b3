"""Peak memory of the ProcessObject handler against object size (default: up to 200 MB).

    .venv/bin/python benchmarks/handler_memory.py [--sizes-mb 10 50 200]

The real lambda_handler runs with two stand-ins: its S3 client serves each object as a stream
generated on the fly (the object never exists whole, as with S3's StreamingBody), and the
downstream is the built-in simulated API with zero latency (DownstreamApiUrl empty). So the
figure is the handler's own memory: event parsing, the CSV reader, the row loop, the payloads,
logs and metrics. Each size runs in a fresh process, so its peak RSS is
that invocation's (as in a Lambda container); --tracemalloc adds the peak of Python
allocations during the invocation. Prints
figures; asserts nothing (tests/unit/process_object/test_csv_rows.py checks the behaviour).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from typing import Any

from local_runs import ROOT  # benchmarks/ is on sys.path when run

from sluice_local.emulator.context import LambdaContext
from sluice_local.handlers import load_handler
from sluice_local.jobs.generated import GeneratedBody


class StreamingS3:
    """HeadObject and GetObject of one generated object of the requested size."""

    def __init__(self, total_bytes: int) -> None:
        self.total_bytes = total_bytes
        self.body: GeneratedBody | None = None

    def head_object(self, **_: Any) -> dict[str, Any]:
        # The revision ProcessObject pins its reads and checkpoint to (ETag when unversioned).
        return {"ETag": '"bench"', "ContentLength": self.total_bytes}

    def get_object(self, **_: Any) -> dict[str, Any]:
        self.body = GeneratedBody(self.total_bytes)
        return {"Body": self.body}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_one(size_mb: int, trace: bool) -> dict[str, float]:
    """One invocation in this (fresh) process: what a Lambda container would see."""
    os.environ.update(
        DOWNSTREAM_API_URL="",
        SIMULATED_LATENCY_MS="0",
        SIMULATED_FAILURE_RATE="0",
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_LOG_LEVEL="WARNING",  # keep stdout for the figures
        POWERTOOLS_METRICS_DISABLED="true",
        AWS_DEFAULT_REGION="us-east-1",
    )
    handler = load_handler(
        ROOT / "functions/process_object", "app.lambda_handler", [ROOT / "layers/common"], "bench"
    )
    app = sys.modules["_sluice_fn_bench_process_object_app"]
    s3 = StreamingS3(size_mb * 1024 * 1024)
    app.s3_client = lambda: s3  # the stand-in client, where app.py keeps its own
    event = {"s3_details": {"bucket": "bench", "key": f"size-{size_mb}mb.csv"}}
    context = LambdaContext(function_name="ProcessObjectFunction", timeout_seconds=900)
    baseline = peak_rss_mb()
    if trace:
        tracemalloc.start()
    started = time.monotonic()
    summary = handler(event, context)
    elapsed = time.monotonic() - started
    python_peak = tracemalloc.get_traced_memory()[1] / 2**20 if trace else float("nan")
    assert s3.body is not None and summary["rows_sent"] == s3.body.rows
    return {
        "rows": summary["rows_sent"],
        "baseline_rss_mb": baseline,
        "peak_rss_mb": peak_rss_mb(),
        "python_peak_mb": python_peak,
        "seconds": elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes-mb", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument(
        "--tracemalloc", action="store_true", help="also trace Python allocations (5x slower)"
    )
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(args.one, args.tracemalloc)))
        return

    print("ProcessObject handler, one fresh process per object size (like a cold container)")
    print(
        f"{'object':>8}  {'rows':>9}  {'RSS before':>10}  {'RSS peak':>9}  "
        f"{'Python peak':>11}  {'rows/s':>7}"
    )
    results = []
    for size_mb in args.sizes_mb:
        command = [sys.executable, __file__, "--one", str(size_mb)]
        if args.tracemalloc:
            command.append("--tracemalloc")
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        results.append((size_mb, figures))
        print(
            f"{size_mb:>6}MB  {figures['rows']:>9}  {figures['baseline_rss_mb']:>8.1f}MB  "
            f"{figures['peak_rss_mb']:>7.1f}MB  {figures['python_peak_mb']:>9.2f}MB  "
            f"{figures['rows'] / figures['seconds']:>7.0f}"
        )
    (small, first), (large, last) = results[0], results[-1]
    ratio = last["peak_rss_mb"] / first["peak_rss_mb"]
    print(f"\n{large / small:.0f}x the object size -> {ratio:.2f}x the peak RSS")


if __name__ == "__main__":
    main()
