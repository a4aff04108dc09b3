"""`large_object.py --memory`: the ProcessObject handler's peak memory against object size, one
fresh process per size (see large_object.py's help)."""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

from large_csv import HEADER, ROW_BYTES  # benchmarks/ is on sys.path when run
from local_runs import ROOT

# Each size runs in a fresh process of large_object.py --memory-one, like a cold container.
ENTRY = Path(__file__).with_name("large_object.py")


class GeneratedRangedBody:
    """The object's bytes from ``offset`` on, generated as read (never whole in memory)."""

    ROW = b"42,customer 4242,1234.56," + b"n" * (ROW_BYTES - 26) + b"\n"

    def __init__(self, rows: int, offset: int) -> None:
        if offset == 0:
            first_row, self._pending = 0, HEADER
        else:
            first_row, rest = divmod(offset - len(HEADER), len(self.ROW))
            if rest:
                raise ValueError(f"offset {offset} is not at a record boundary")
            self._pending = b""
        self._left = rows - first_row
        self.read_bytes = 0

    def read(self, amt: int | None = None) -> bytes:
        amt = amt or 1 << 16
        while len(self._pending) < amt and self._left:
            n = min(self._left, 1000)
            self._left -= n
            self._pending += self.ROW * n
        out, self._pending = self._pending[:amt], self._pending[amt:]
        self.read_bytes += len(out)
        return out

    def close(self) -> None:
        self._pending, self._left = b"", 0


class GeneratedS3:
    """head_object and get_object (ranged) over a generated object of ``rows`` rows."""

    def __init__(self, rows: int) -> None:
        self.rows = rows
        self.size = len(HEADER) + rows * len(GeneratedRangedBody.ROW)
        self.read_bytes = 0
        self._bodies: list[GeneratedRangedBody] = []

    def head_object(self, **_: Any) -> dict[str, Any]:
        return {"ContentLength": self.size, "ETag": '"generated"'}

    def get_object(self, **params: Any) -> dict[str, Any]:
        offset = int(params.get("Range", "bytes=0-")[len("bytes=") :].rstrip("-"))
        body = GeneratedRangedBody(self.rows, offset)
        self._bodies.append(body)
        return {"Body": body}

    @property
    def bytes_read(self) -> int:
        return sum(b.read_bytes for b in self._bodies)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_one(size_mb: int, timeout_s: float, checkpoint_rows: int, trace: bool) -> dict[str, Any]:
    """In this fresh process: the real handler over a generated object, invoked until done."""
    table = "bench-checkpoints"
    os.environ.update(
        DOWNSTREAM_API_URL="",
        SIMULATED_LATENCY_MS="0",
        SIMULATED_FAILURE_RATE="0",
        DOWNSTREAM_TIMEOUT_SECONDS="1",
        CHECKPOINT_TABLE=table,
        CHECKPOINT_ROWS=str(checkpoint_rows),
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_LOG_LEVEL="WARNING",  # keep stdout for the figures
        POWERTOOLS_METRICS_DISABLED="true",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
    )
    import boto3
    from moto import mock_aws

    from sluice_local.emulator.context import LambdaContext
    from sluice_local.handlers import load_handler

    with mock_aws():
        boto3.client("dynamodb").create_table(
            TableName=table,
            AttributeDefinitions=[{"AttributeName": "object", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "object", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        handler = load_handler(
            ROOT / "functions/process_object",
            "app.lambda_handler",
            [ROOT / "layers/common"],
            "bench",
        )
        app = sys.modules["_sluice_fn_bench_process_object_app"]
        s3 = GeneratedS3(size_mb * 1024 * 1024 // ROW_BYTES)
        app.s3_client = lambda: s3  # the stand-in client, where app.py keeps its own
        event = {"s3_details": {"bucket": "bench", "key": f"size-{size_mb}mb.csv"}}
        baseline = peak_rss_mb()
        python_peaks: list[float] = []
        invocations = rows = 0
        started = time.monotonic()
        if trace:
            tracemalloc.start()
        while True:
            if trace:
                tracemalloc.reset_peak()
            context = LambdaContext(
                function_name="ProcessObjectFunction", timeout_seconds=timeout_s
            )
            summary = handler(event, context)
            invocations += 1
            rows += summary["rows_sent"]
            if trace:
                python_peaks.append(tracemalloc.get_traced_memory()[1] / 2**20)
            if not summary.get("unfinished"):
                break
        elapsed = time.monotonic() - started
    return {
        "rows": rows,
        "expected_rows": s3.rows,
        "size_bytes": s3.size,
        "bytes_read": s3.bytes_read,
        "invocations": invocations,
        "baseline_rss_mb": baseline,
        "peak_rss_mb": peak_rss_mb(),
        "python_peak_mb": max(python_peaks) if python_peaks else float("nan"),
        "seconds": elapsed,
    }


def run_memory(args: argparse.Namespace) -> None:
    print(
        "ProcessObject handler, one fresh process per object size (like a cold container):"
        f" invocations of {args.memory_timeout_s:g} s (DownstreamTimeoutSeconds 1) until done,"
        f" CheckpointRows {args.memory_checkpoint_rows} (the memory does not depend on it;"
        " 1 would make the large sizes slow on the in-process DynamoDB)"
    )
    print(
        f"{'object':>8}  {'rows':>9}  {'invocations':>11}  {'read/size':>9}  {'RSS before':>10}"
        f"  {'RSS peak':>9}  {'Python peak':>11}  {'rows/s':>7}"
    )
    results = []
    for size_mb in args.memory_sizes_mb:
        command = [
            sys.executable,
            str(ENTRY),
            "--memory-one",
            str(size_mb),
            "--memory-timeout-s",
            str(args.memory_timeout_s),
            "--memory-checkpoint-rows",
            str(args.memory_checkpoint_rows),
        ]
        if args.tracemalloc:
            command.append("--tracemalloc")
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        results.append((size_mb, figures))
        traced = figures["python_peak_mb"]
        python_peak = "-" if traced != traced else f"{traced:.2f}MB"  # NaN: not traced
        print(
            f"{size_mb:>6}MB  {figures['rows']:>9}  {figures['invocations']:>11}"
            f"  {figures['bytes_read'] / figures['size_bytes']:>9.4f}"
            f"  {figures['baseline_rss_mb']:>8.1f}MB  {figures['peak_rss_mb']:>7.1f}MB"
            f"  {python_peak:>11}  {figures['rows'] / figures['seconds']:>7.0f}",
            flush=True,
        )
        if figures["rows"] != figures["expected_rows"]:
            print(f"  rows sent {figures['rows']} of {figures['expected_rows']}")
    (small, first), (large, last) = results[0], results[-1]
    growth = last["peak_rss_mb"] - first["peak_rss_mb"]
    ratio = last["peak_rss_mb"] / first["peak_rss_mb"]
    print(f"\n{large / small:.0f}x the object size -> {ratio:.2f}x the peak RSS ({growth:+.1f} MB)")
