"""Rows (--pipeline rows): what a row costs beside what an object costs, for each CheckpointRows in
--checkpoint-rows (a run each: --row-objects objects of --row-rows rows, samconfig's local
overrides plus that CheckpointRows, a 5 ms downstream). Counted in the run, with a botocore hook
on boto3's default session (as for the stream below) on ProcessObject's own threads: UpdateItem
calls on CheckpointTable by kind (the lease taken, progress saved every CheckpointRows rows, saved
and released when the invocation stops; a conditional write that fails is billed too), and
HeadObject + GetObject (each invocation opens the object again, ranged from its checkpoint);
checkpoint item sizes from a scan of the table at the end (an UpdateItem is billed on the larger
of the item before and after, rounded up per KB); Lambda duration while waiting on the
downstream (the summaries' downstream_ms) at the function's memory. Printed as $ per million
rows beside $ per million objects (objects of --row-rows rows), with the rows left in doubt by a
crash (at most CheckpointRows, or what CheckpointSeconds lets through first). Then the same
per-row items modelled at the seed's specified API (5-30 s a row, --row-latency-s mean), where
waiting dominates: FunctionTimeout 120 and DownstreamTimeoutSeconds 35 (template defaults) give
an invocation about (120 - 1 - 35) s of starts, and CheckpointSeconds (10) forces a write after
almost every such row whatever CheckpointRows says.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from local_runs import local_overrides

from sluice_local.jobs.demo import sample_objects

from .measured import object_run
from .meters import PROCESSOR
from .prices import GB, MILLION, PRICE
from .units import ITEM_OVERHEAD_BYTES, item_size

STOP_MARGIN_S = 1.0  # object_processor.STOP_MARGIN_SECONDS: no attempt ends in the last second
DAYS_PER_MONTH = 365.25 / 12


@dataclass(frozen=True)
class RowRun:
    """One run's per-row figures at one CheckpointRows."""

    checkpoint_rows: int
    objects: int
    rows: int  # distinct rows the downstream accepted
    duplicates: int
    invocations: int
    writes: dict[str, int]
    failed_writes: int
    s3_requests: dict[str, int]
    item_bytes: list[int]  # each checkpoint item's size at the end
    wait_seconds: float  # ProcessObject waiting on the downstream (the summaries' downstream_ms)
    busy_seconds: float
    memory_gb: float
    parameters: dict[str, str]

    @property
    def write_units(self) -> float:
        """WRU per checkpoint write: the items' size rounded up per KB (their final size: they
        only grow while an object is processed)."""
        units = [math.ceil(size / 1024) for size in self.item_bytes] or [1]
        return sum(units) / len(units)

    def per_object(self) -> dict[str, float]:
        """$ per object, per line item."""
        n = self.objects
        months = float(self.parameters.get("IdempotencyDays", 30)) / DAYS_PER_MONTH
        mean_item = sum(self.item_bytes) / max(1, len(self.item_bytes))
        item_gb = (mean_item + ITEM_OVERHEAD_BYTES) / GB
        writes = sum(self.writes.values())
        return {
            "checkpoint writes (UpdateItem WRU)": (
                writes * self.write_units * PRICE["ddb_write_request_unit"] / n
            ),
            "checkpoint storage + PITR (IdempotencyDays kept)": (
                item_gb * months * (PRICE["ddb_storage_gb_month"] + PRICE["ddb_pitr_gb_month"])
            ),
            "Lambda GB-s waiting on the downstream": (
                self.wait_seconds * self.memory_gb * PRICE["lambda_gb_second"] / n
            ),
            "Lambda GB-s not waiting (parse, S3, checkpoint)": (
                max(0.0, self.busy_seconds - self.wait_seconds)
                * self.memory_gb
                * PRICE["lambda_gb_second"]
                / n
            ),
            "per invocation: Lambda request + S3 HEAD + GET": (
                self.invocations * PRICE["lambda_request"]
                + sum(self.s3_requests.values()) * PRICE["s3_get"]
            )
            / n,
        }


def measure_rows(objects: int, rows: int, time_scale: float, checkpoint_rows: int) -> RowRun:
    sample = sample_objects(objects, rows, failing=0)
    overrides = local_overrides(CheckpointRows=str(checkpoint_rows))
    job = f"bench:cost_model rows CheckpointRows={checkpoint_rows}"
    with object_run(sample, overrides, time_scale, job) as (pipeline, meter, report):
        stats = pipeline.dispatcher.stats
        results = [i.result for i in stats.results(PROCESSOR) if not i.errored]
        items: list[dict[str, Any]] = []
        for page in (
            pipeline.client("dynamodb")
            .get_paginator("scan")
            .paginate(TableName=pipeline.outputs["CheckpointTableName"])
        ):
            items.extend(page["Items"])
        assert pipeline.translated is not None
        parameters = {k: str(v) for k, v in pipeline.translated.parameters.items()}
        memory_gb = pipeline.dispatcher.runtime_for(PROCESSOR).memory_mb / 1024
        invocations = stats.invocations[PROCESSOR]
        busy = stats.busy_seconds[PROCESSOR]
    return RowRun(
        checkpoint_rows=checkpoint_rows,
        objects=report.uploaded,
        rows=report.rows_received,
        duplicates=report.duplicate_rows,
        invocations=invocations,
        writes=dict(meter.writes),
        failed_writes=meter.failed_writes,
        s3_requests=dict(meter.s3),
        item_bytes=[item_size(item) for item in items],
        wait_seconds=sum(int(r.get("downstream_ms", 0)) for r in results) / 1000,
        busy_seconds=busy,
        memory_gb=memory_gb,
        parameters=parameters,
    )


def rows_per_save(checkpoint_rows: int, seconds: float, low: float, high: float) -> float:
    """Mean rows between progress saves when rows take ``low``-``high`` s (uniform): a save
    after CheckpointRows rows or once CheckpointSeconds have passed, whichever comes first."""
    rng = random.Random(7)
    total, draws = 0, 20_000
    for _ in range(draws):
        rows, elapsed = 0, 0.0
        while rows < checkpoint_rows and elapsed < seconds:
            rows += 1
            elapsed += rng.uniform(low, high)
        total += rows
    return total / draws


def seed_row_items(
    checkpoint_rows: int,
    latency: tuple[float, float],
    *,
    function_timeout: float,
    downstream_timeout: float,
    checkpoint_seconds: float,
    memory_gb: float,
    write_units: float,
) -> tuple[dict[str, float], float, float]:
    """($ per row by line item, rows per invocation, rows per progress save) at the seed's API."""
    low, high = latency
    mean = (low + high) / 2
    # Attempts start while one more whole request fits before the deadline less the margin; the
    # last one started runs to its end: about window / mean + 1 rows an invocation.
    window = function_timeout - STOP_MARGIN_S - downstream_timeout
    per_invocation = max(1.0, window / mean + 1)
    per_save = rows_per_save(checkpoint_rows, checkpoint_seconds, low, high)
    writes_per_row = 1 / per_save + 2 / per_invocation  # + take and save-and-release
    items = {
        "checkpoint writes (UpdateItem WRU)": (
            writes_per_row * write_units * PRICE["ddb_write_request_unit"]
        ),
        "Lambda GB-s waiting on the downstream": mean * memory_gb * PRICE["lambda_gb_second"],
        "per invocation: Lambda request + S3 HEAD + GET": (
            (PRICE["lambda_request"] + 2 * PRICE["s3_get"]) / per_invocation
        ),
        "per continuation: SQS SendMessage + DeleteMessage": (
            2 * PRICE["sqs_request"] / per_invocation
        ),
    }
    return items, per_invocation, per_save


def print_rows(runs: list[RowRun], latency: tuple[float, float]) -> None:
    first = runs[0]
    rows_per_object = first.rows / max(1, first.objects)
    print(
        "Rows: checkpoint state and waiting, measured on the local runtime (samconfig 'local'"
        " overrides + CheckpointRows; downstream 5 ms a row):"
    )
    print(
        f"  {first.objects} objects x {rows_per_object:g} rows each run; FunctionTimeout"
        f" {first.parameters.get('FunctionTimeout')} s, CheckpointSeconds"
        f" {first.parameters.get('CheckpointSeconds')}, IdempotencyDays"
        f" {first.parameters.get('IdempotencyDays')}, ProcessObject"
        f" {first.memory_gb * 1024:.0f} MB"
    )
    header = "".join(f"{'CheckpointRows ' + str(r.checkpoint_rows):>20}" for r in runs)
    print(f"\n  {'per run':<50}{header}")

    def line(label: str, values: list[str]) -> None:
        print(f"  {label:<50}" + "".join(f"{v:>20}" for v in values))

    line("rows delivered (duplicates)", [f"{r.rows} ({r.duplicates})" for r in runs])
    line("ProcessObject invocations", [str(r.invocations) for r in runs])
    kinds = sorted({k for r in runs for k in r.writes})
    line("UpdateItem per row", [f"{sum(r.writes.values()) / r.rows:.4f}" for r in runs])
    for kind in kinds:
        line(f"  {kind} per row", [f"{r.writes.get(kind, 0) / r.rows:.4f}" for r in runs])
    line("  failed conditional writes", [str(r.failed_writes) for r in runs])
    line(
        "checkpoint item bytes (WRU a write)",
        [f"{sum(r.item_bytes) / max(1, len(r.item_bytes)):.0f} ({r.write_units:g})" for r in runs],
    )
    line(
        "S3 HEAD + GET per invocation",
        [f"{sum(r.s3_requests.values()) / max(1, r.invocations):.2f}" for r in runs],
    )
    line("rows in doubt after a crash, at most", [str(r.checkpoint_rows) for r in runs])

    print(f"\n  {'$ per million rows / per million objects':<50}{header}")
    for item in first.per_object():
        values = []
        for r in runs:
            per_object = r.per_object()[item]
            per_row = per_object * r.objects / r.rows
            values.append(f"{per_row * MILLION:.2f} / {per_object * MILLION:.2f}")
        line(item, values)
    totals = []
    for r in runs:
        per_object = sum(r.per_object().values())
        per_row = per_object * r.objects / r.rows
        totals.append(f"{per_row * MILLION:.2f} / {per_object * MILLION:.2f}")
    line("total", totals)
    print(
        f"  (objects of {rows_per_object:g} rows; every object's orchestration and queueing:"
        "\n   --pipeline objects. Lambda GB-s: local timing, an estimate; at 5 ms a row the"
        "\n   emulator's own per-row work shows in the waiting too.)"
    )

    low, high = latency
    params = first.parameters
    function_timeout = 120.0  # the template's defaults, as the seed's API needs them
    downstream_timeout = 35.0
    checkpoint_seconds = float(params.get("CheckpointSeconds", 10))
    print(
        f"\n  Modelled at the seed's API ({low:g}-{high:g} s a row, mean {(low + high) / 2:g} s;"
        f" FunctionTimeout {function_timeout:g}, DownstreamTimeoutSeconds"
        f" {downstream_timeout:g}, CheckpointSeconds {checkpoint_seconds:g},"
        f" {first.memory_gb * 1024:.0f} MB):"
    )
    modelled = [
        seed_row_items(
            r.checkpoint_rows,
            latency,
            function_timeout=function_timeout,
            downstream_timeout=downstream_timeout,
            checkpoint_seconds=checkpoint_seconds,
            memory_gb=r.memory_gb,
            write_units=r.write_units,
        )
        for r in runs
    ]
    line("rows per invocation (model)", [f"{m[1]:.2f}" for m in modelled])
    line("rows per progress save (CheckpointSeconds)", [f"{m[2]:.2f}" for m in modelled])
    line(
        "rows in doubt after a crash, at most",
        [f"{min(r.checkpoint_rows, math.ceil(checkpoint_seconds / low))}" for r in runs],
    )
    print(f"  {'$ per million rows':<50}{header}")
    for item in modelled[0][0]:
        line(item, [f"{m[0][item] * MILLION:.2f}" for m in modelled])
    line("total", [f"{sum(m[0].values()) * MILLION:.2f}" for m in modelled])
    print(
        "  (Waiting on a 5-30 s API is what a row costs; the checkpoint writes are under 1 % of"
        "\n   it. CheckpointSeconds writes after almost every such row whatever CheckpointRows"
        "\n   says: raise it too to trade rows in doubt for writes.)"
    )
