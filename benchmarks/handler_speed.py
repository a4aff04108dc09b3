"""How fast the ProcessObject handler reads rows, and how fast it starts.

    .venv/bin/python benchmarks/handler_speed.py [--mb 20] [--runs 5]

1. Rows/s through the domain code (object_processor.process_object: stream, parse, build each
   row's JSON payload and idempotency key, "send") with a downstream that accepts at once,
   divided by rows/s of a bare ``csv.reader`` over the same bytes, both measured in this run.
   The ratio is the share of parsing speed the handler keeps (goal >= 0.70). Beside it, the
   floor any per-row JSON request has in CPython: ``csv.reader`` plus one ``json.dumps`` of the
   row per row, nothing else, measured on the same bytes in the same run.
2. Cold import: the handler module (with its layer) in a fresh interpreter, divided by a bare
   ``import boto3`` in a fresh interpreter; the median of --runs each (goal <= 1.5). The handler
   is imported as Lambda imports it: with the environment variables the runtime sets
   (``LAMBDA_TASK_ROOT`` among them, which the X-Ray SDK checks before it builds clients), with
   tracing on as template.yaml deploys it, and with tracing off.

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from local_runs import ROOT  # benchmarks/ is on sys.path when run

from sluice_local.jobs.generated import HEADER, ROW, MemoryS3


class AcceptAll:
    request_timeout_s = 0.0  # answers at once

    def __init__(self) -> None:
        from downstream import DownstreamResponse

        self.accepted = DownstreamResponse(200)

    def post(self, body: bytes, headers: Mapping[str, str]) -> Any:
        return self.accepted


def rows_per_second(data: bytes) -> tuple[float, float, float, int]:
    sys.path[:0] = [str(ROOT / "functions/process_object"), str(ROOT / "layers/common/python")]
    import object_processor
    from downstream import RetryPolicy
    from sluice_common.events import ObjectRef

    started = time.perf_counter()
    rows = sum(1 for _ in csv.reader(io.TextIOWrapper(io.BytesIO(data), "utf-8", newline="")))
    raw = (rows - 1) / (time.perf_counter() - started)

    started = time.perf_counter()
    reader = csv.reader(io.TextIOWrapper(io.BytesIO(data), "utf-8", newline=""))
    header = next(reader)
    for record in reader:
        json.dumps(dict(zip(header, record, strict=True)))
    floor = (rows - 1) / (time.perf_counter() - started)

    started = time.perf_counter()
    summary = object_processor.process_object(
        MemoryS3(data), AcceptAll(), ObjectRef("bench", "speed.csv"), RetryPolicy()
    )
    handler = summary.rows_sent / (time.perf_counter() - started)
    return raw, floor, handler, summary.rows_sent


def lambda_environment(task_root: Path, tracing: bool) -> dict[str, str]:
    """What the Lambda runtime sets before it imports a handler (the parts imports look at)."""
    return {
        "LAMBDA_TASK_ROOT": str(task_root),
        "AWS_LAMBDA_FUNCTION_NAME": "sluice-ProcessObject",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "false" if tracing else "true",
    }


def cold_import_ms(
    code: str, runs: int, extra_path: list[Path], extra_env: dict[str, str] | None = None
) -> float:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(p) for p in extra_path),
        "AWS_DEFAULT_REGION": "us-east-1",
        **(extra_env or {}),
    }
    timings = []
    for _ in range(runs):
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                f"import time; t = time.perf_counter(); {code}; "
                "print((time.perf_counter() - t) * 1000)",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        timings.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    data = HEADER + ROW * (args.mb * 2**20 // len(ROW))
    raw, floor, handler, rows = rows_per_second(data)
    print(f"rows                          {rows} ({args.mb} MB)")
    print(f"csv.reader rows/s             {raw:,.0f}")
    print(f"handler rows/s (no-op send)   {handler:,.0f}")
    print(f"ratio                         {handler / raw:.2f}")
    print(f"floor: csv.reader + json.dumps per row  {floor:,.0f} rows/s = {floor / raw:.2f}")
    print(f"handler / floor               {handler / floor:.2f}")

    code = ROOT / "functions/process_object"
    path = [code, ROOT / "layers/common/python"]
    boto3_ms = cold_import_ms("import boto3", args.runs, [])
    traced_ms = cold_import_ms("import app", args.runs, path, lambda_environment(code, True))
    untraced_ms = cold_import_ms("import app", args.runs, path, lambda_environment(code, False))
    print(f"cold import boto3 (median)    {boto3_ms:.0f} ms")
    print(f"cold import handler, tracing on (as deployed)  {traced_ms:.0f} ms")
    print(f"ratio                         {traced_ms / boto3_ms:.2f}")
    print(f"cold import handler, tracing off               {untraced_ms:.0f} ms")
    print(f"ratio                         {untraced_ms / boto3_ms:.2f}")


if __name__ == "__main__":
    main()
