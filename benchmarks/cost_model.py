"""Cost per million objects (S3 pipeline), per million payment events (payments pipeline) and
per million stream events (stream pipeline) at list price, from counts taken in real local runs.

    .venv/bin/python benchmarks/cost_model.py [--pipeline {objects,rows,payments,stream,all}]
        [--objects 200 --rows 10] [--events 500] [--stream-events 2000]
        [--checkpoint-rows 1 10 100 --row-objects 20 --row-rows 500]

Objects (--pipeline objects): runs the shipped template (samconfig's local overrides, no others)
through the local runtime, then counts what AWS would bill: for the drain state machine, state
transitions (Standard) or executions and their billed duration (Express); the SQS calls each Task
made (from the execution histories); Lambda requests and billed duration (from the runtime's
dispatcher); one EventBridge -> SQS delivery per object; S3 HeadObject and GetObject as
ProcessObject made them (a botocore hook, see Rows below: each invocation opens the object
again). Express duration is each
execution's wall time on the local runtime: Wait states run time-scaled there, while every
service runs slower than on AWS in one emulator process; the figure is an estimate, printed as
such. The same model prices the seeds' per-object design from its structure (see SEED_DESIGN).

Rows (--pipeline rows): what a row costs beside what an object costs, for each CheckpointRows in
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

Payments (--pipeline payments): publishes --events payment events (about 2 % invalid and 2 %
duplicates, from sample_payments) through the shipped template with EnablePaymentPipeline=true
(plus samconfig's local overrides), then counts per published event: SNS publish requests as the
sample producer made them (PublishBatch, 10 events a call); SQS requests (SNS's SendMessage of
each event to PaymentQueue; PaymentPipe's ReceiveMessage and DeleteMessageBatch per batch, the
batches counted by the local PipeRunner); Pipes requests (each event); Express requests (one per
batch) and billed duration (each execution's wall time on the local runtime, 64 MB, 100 ms
increments: an estimate, local timing); Lambda requests and duration (dispatcher stats, the
functions' configured memory: an estimate, local timing); DynamoDB write request units (item
sizes computed from the stored items); the dead-letter SendMessage of each rejected event.
The seed's design (SNS -> a trigger Lambda -> StartExecution per event) is priced from the same
counts (see seed_payments). Fixed monthly costs are printed apart. Prints figures; asserts
nothing; every ratio comes from one run.

Stream (--pipeline stream): produces --stream-events events (about 1 % malformed, from
sluice_ops.stream.sample_events) on EventStream, in a burst, through the shipped template with
EnableStreamPipeline=true (plus samconfig's local overrides; StreamBatchSize and the rest at their
defaults), waits until ProcessStreamMapping has caught up and accounts for every event
(sluice_local.jobs.stream_job.run_stream), then counts per produced event: Kinesis PUT payload units
(every record PutRecords sent, data + partition key, rounded up to 25 KB units: a botocore hook
on the runtime's Kinesis client); Lambda requests (the dispatcher's invocations of
ProcessStreamFunction, retries and bisected halves included) and duration (its busy seconds at
the configured 512 MB, arm64: an estimate, local timing); DynamoDB write request units of every
item BatchWriteItem actually wrote, rewrites included (a botocore hook on boto3's default
session, which the function's client comes from: per item ceil(size / 1 KB) for the table and
as much again for each of the two ALL-projection indexes; a put that replaces an identical item
is counted in the indexes too, an upper bound); the on-failure SendMessage of each dead-lettered
range. The hook is registered once the pipeline has started: moto's mock_aws replaces
boto3.DEFAULT_SESSION when it starts, so a handler registered before is never called; the
function creates its client at its first invocation, after that. The count of calls is checked
against the write_calls the function logs. Shard-hours do not scale with events: they are a fixed
monthly cost, and are also shown per million events at 100 events/s sustained. Fixed monthly
costs are printed apart; the function's CloudWatch Logs (measured bytes) are listed, not included.
Kinesis retries are the local StreamMappingRunner's (sluice_local.sources.streams): how many times a
batch with a malformed record is invoked and rewritten follows that model of Lambda's poller.

Prices: us-east-1 list prices, no free tier, checked 2026-11 (except where marked from memory):
- Step Functions Standard: $0.025 per 1,000 state transitions.
  https://aws.amazon.com/step-functions/pricing/
- Step Functions Express: $1.00 per million requests; $0.00001667 per GB-second (64 MB steps,
  billed in 100 ms). https://aws.amazon.com/step-functions/pricing/
- SQS standard queues: $0.40 per million requests (a request is one API call carrying 1-10
  messages, per 64 KB chunk). https://aws.amazon.com/sqs/pricing/
- Lambda (arm64, as every function of the app): $0.20 per million requests; $0.0000133334 per
  GB-second, billed per 1 ms (x86_64 was $0.0000166667). https://aws.amazon.com/lambda/pricing/
- EventBridge: events from AWS services (S3 "Object Created", scheduled rules) on the default bus
  are free; rule deliveries to SQS carry no EventBridge charge. EventBridge Pipes: $0.40 per
  million requests; each event a pipe reads is a request (per 64 KB chunk).
  https://aws.amazon.com/eventbridge/pricing/
- S3 GET: $0.0004 per 1,000 requests; HEAD is billed as a GET ("GET, SELECT, and all other
  requests"). https://aws.amazon.com/s3/pricing/
- SNS standard topics: $0.50 per million publish requests (per 64 KB chunk; a PublishBatch of up
  to 10 messages is one request per 64 KB chunk of its payload); deliveries to SQS queues and
  Lambda functions carry no charge. https://aws.amazon.com/sns/pricing/
- DynamoDB on-demand: $0.625 per million write request units (a write of an item of up to 1 KB
  is 1 WRU, rounded up per KB; each global secondary index the item is written to costs as much
  again; a conditional write that fails still consumes WRU; an UpdateItem is billed on the larger
  of the item before and after it); storage $0.25 per GB-month (each item counts 100 bytes of
  overhead beside its data), continuous backups (PITR) $0.20 per GB-month; TTL deletes are free.
  https://aws.amazon.com/dynamodb/pricing/on-demand/
- KMS: $1 per customer managed key per month (each of its first two automatic rotations adds
  $1/month). https://aws.amazon.com/kms/pricing/
- CloudWatch: logs ingestion $0.50 per GB; standard alarms $0.10 per alarm-month; custom
  metrics $0.30 per metric-month. https://aws.amazon.com/cloudwatch/pricing/
- Kinesis Data Streams, provisioned mode (from memory, not re-checked on the pricing page; the
  us-east-1 list prices as given for this model): $0.015 per shard-hour; $0.014 per million PUT
  payload units, a unit being each 25 KB chunk of a record (a 5 KB record is one unit); reading
  (GetRecords, the event source mapping's shared-throughput polling) carries no charge; 24 h
  retention is included (StreamRetentionHours above 24 is extended retention, not priced here).
  https://aws.amazon.com/kinesis/data-streams/pricing/
- Lambda event source mappings for Kinesis: no charge of their own beyond the invocations
  (from memory).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import threading
from collections import Counter
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from sluice_local.emulator.runtime import LocalPipeline
from sluice_local.emulator.template import samconfig_overrides
from sluice_local.jobs.demo import deployed, run_job, sample_objects
from sluice_local.jobs.payments import run_payments, sample_payments, stored_items
from sluice_local.jobs.report import report_run
from sluice_local.jobs.stream_job import run_stream
from sluice_ops.stream import sample_events

ROOT = Path(__file__).resolve().parents[1]
MILLION = 1_000_000

PRICE = {
    "sfn_transition": 0.025 / 1000,
    "sfn_express_request": 1.00 / MILLION,
    "sfn_express_gb_second": 0.00001667,  # billed per 64 MB and per 100 ms
    "sqs_request": 0.40 / MILLION,
    "lambda_request": 0.20 / MILLION,
    "lambda_gb_second": 0.0000133334,  # arm64, billed per 1 ms (x86_64: 0.0000166667)
    "s3_get": 0.0004 / 1000,
    "eventbridge_aws_event": 0.0,
    "sns_publish_request": 0.50 / MILLION,  # per 64 KB chunk
    "pipes_request": 0.40 / MILLION,  # per event, per 64 KB chunk
    "ddb_write_request_unit": 0.625 / MILLION,  # on-demand
    "ddb_storage_gb_month": 0.25,
    "ddb_pitr_gb_month": 0.20,
    "logs_ingested_gb": 0.50,
    "kms_key_month": 1.00,
    "alarm_month": 0.10,
    "custom_metric_month": 0.30,
    "kinesis_shard_hour": 0.015,  # provisioned mode (from memory)
    "kinesis_put_payload_unit": 0.014 / MILLION,  # per 25 KB chunk of a record (from memory)
}


@dataclass(frozen=True)
class Counts:
    """Billable units per object."""

    transitions: float  # Standard
    express_requests: float
    express_gb_seconds: float
    sqs_requests: float
    drain_fn_requests: float
    drain_fn_gb_seconds: float
    processor_requests: float
    processor_gb_seconds: float
    s3_gets: float  # HeadObject + GetObject (billed alike)

    def orchestration_and_queueing(self) -> dict[str, float]:
        """$ per million objects, per line item (per-row compute excluded)."""
        return {
            "Step Functions transitions (Standard)": (
                self.transitions * PRICE["sfn_transition"] * MILLION
            ),
            "Step Functions requests (Express)": (
                self.express_requests * PRICE["sfn_express_request"] * MILLION
            ),
            "Step Functions duration (Express, estimate)": (
                self.express_gb_seconds * PRICE["sfn_express_gb_second"] * MILLION
            ),
            "SQS requests": self.sqs_requests * PRICE["sqs_request"] * MILLION,
            "EventBridge (AWS service events)": 0.0,
            "Lambda requests (drain functions + ProcessObject)": (
                (self.drain_fn_requests + self.processor_requests)
                * PRICE["lambda_request"]
                * MILLION
            ),
            "Lambda duration (drain functions)": (
                self.drain_fn_gb_seconds * PRICE["lambda_gb_second"] * MILLION
            ),
        }

    def excluded(self) -> dict[str, float]:
        return {
            "ProcessObject duration (per-row work)": (
                self.processor_gb_seconds * PRICE["lambda_gb_second"] * MILLION
            ),
            "S3 HEAD + GET per object": self.s3_gets * PRICE["s3_get"] * MILLION,
        }


# The seeds' design, per batch of 10 messages: ReceiveMessage task, Map, then per message Pass,
# Wait (per-index delay), Pass, Lambda invoke, DeleteMessage: 2 + 5 x 10 = 52 states per batch.
# Measured with such a drain on this emulator: 5.4 states per object (shared/notes/local-aws.md).
SEED_DESIGN = Counts(
    transitions=5.4,
    express_requests=0,
    express_gb_seconds=0,
    sqs_requests=1 + 0.1 + 1,  # EventBridge delivery, receive per 10, delete per message
    drain_fn_requests=0,
    drain_fn_gb_seconds=0,
    processor_requests=1,
    processor_gb_seconds=0,
    s3_gets=1,
)


def measure(objects: int, rows: int, time_scale: float) -> tuple[Counts, dict[str, object]]:
    import boto3

    overrides = samconfig_overrides(ROOT / "samconfig.toml", "local")
    sample = sample_objects(objects, rows, failing=0)
    with deployed(
        ROOT / "template.yaml",
        overrides,
        time_scale=time_scale,
        latency_s=0.005,
        log_dir=ROOT / ".demo" / "bench-logs",
    ) as (
        pipeline,
        downstream,
    ):
        # ProcessObject's HeadObject/GetObject calls (its checkpoint writes: --pipeline rows).
        meter = CheckpointMeter(pipeline.outputs["CheckpointTableName"])
        meter.register(boto3._get_default_session().events)
        report = run_job(pipeline, downstream, sample, timeout=3600)
        report_run(pipeline, ROOT, "bench:cost_model objects", report)
        history = pipeline.history_counts("DrainStateMachine")
        executions = pipeline.executions("DrainStateMachine")
        stats = pipeline.dispatcher.stats
        memory_gb = {
            logical_id: pipeline.dispatcher.runtime_for(logical_id).memory_mb / 1024
            for logical_id in stats.invocations
        }
        assert pipeline.translated is not None
        parameters = dict(pipeline.translated.parameters)
        machine_type = pipeline.translated.cloudformation["Resources"]["DrainStateMachine"][
            "Properties"
        ].get("StateMachineType", "STANDARD")
    sqs_calls = Counter({k: v for k, v in history.items() if k.startswith("task:") and ":sqs" in k})
    n = report.uploaded
    express = machine_type == "EXPRESS"
    billed_seconds = sum(
        math.ceil((e["stopDate"] - e["startDate"]).total_seconds() * 10) / 10
        for e in executions
        if e.get("stopDate")
    )
    drain_functions = [f for f in stats.invocations if f != "ProcessObjectFunction"]
    counts = Counts(
        transitions=0 if express else history["StateEntered"] / n,
        express_requests=len(executions) / n if express else 0,
        express_gb_seconds=billed_seconds * 64 / 1024 / n if express else 0,
        sqs_requests=(n + sum(sqs_calls.values())) / n,  # + one EventBridge delivery each
        drain_fn_requests=sum(stats.invocations[f] for f in drain_functions) / n,
        drain_fn_gb_seconds=sum(stats.busy_seconds[f] * memory_gb[f] for f in drain_functions) / n,
        processor_requests=stats.invocations["ProcessObjectFunction"] / n,
        processor_gb_seconds=stats.busy_seconds["ProcessObjectFunction"]
        * memory_gb["ProcessObjectFunction"]
        / n,
        s3_gets=sum(meter.s3.values()) / n,
    )
    facts: dict[str, object] = {
        "objects": n,
        "unaccounted": len(report.unaccounted),
        "drain type": machine_type,
        "executions": report.executions,
        "drain execution seconds": round(billed_seconds, 1),
        "Lambda invocations": dict(stats.invocations),
        "sqs calls by Task": dict(sqs_calls),
        "MaxConcurrency": parameters.get("MaxConcurrency"),
        "ReceiveBatchSize": parameters.get("ReceiveBatchSize"),
    }
    return counts, facts


# -- rows: checkpoint state and waiting on the downstream ----------------------------------------

PROCESSOR = "ProcessObjectFunction"
PROCESSOR_THREAD = f"lambda:{PROCESSOR}:"  # the dispatcher runs each invocation on such a thread
STOP_MARGIN_S = 1.0  # object_processor.STOP_MARGIN_SECONDS: no attempt ends in the last second
DAYS_PER_MONTH = 365.25 / 12
ITEM_OVERHEAD_BYTES = 100  # DynamoDB storage counts each item's data plus 100 bytes


def checkpoint_write_kind(expression: str) -> str:
    """Which of ProcessObject's checkpoint writes an UpdateExpression is."""
    if "createdAt = if_not_exists" in expression:
        return "take the lease"
    if "SET #rows" in expression:
        return "failed-row spill page"
    if "previousFailed" in expression:
        return "start a redrive pass"
    if "REMOVE" in expression and "leaseUntil" in expression.split("REMOVE", 1)[1]:
        return "save + release (invocation end)"
    return "save progress"


class CheckpointMeter:
    """ProcessObject's per-row and per-invocation calls, from botocore's events on boto3's
    default session (register it once the pipeline has started: mock_aws replaces the session,
    and the function creates its clients at its first invocation): UpdateItem on the checkpoint
    table by kind (failed conditional writes too: DynamoDB bills them), and S3 HeadObject and
    GetObject. Only calls made on a ProcessObject invocation's own thread count."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name
        self.writes: Counter[str] = Counter()
        self.failed_writes = 0
        self.s3: Counter[str] = Counter()
        self._lock = threading.Lock()

    def register(self, events: Any) -> None:
        events.register("before-parameter-build.dynamodb.UpdateItem", self._before_update)
        events.register("after-call.dynamodb.UpdateItem", self._after_update)
        events.register("after-call.s3.HeadObject", self._after_s3)
        events.register("after-call.s3.GetObject", self._after_s3)

    @staticmethod
    def _ours() -> bool:
        return threading.current_thread().name.startswith(PROCESSOR_THREAD)

    def _before_update(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if self._ours() and params.get("TableName") == self.table_name:
            context["sluice_checkpoint_write"] = checkpoint_write_kind(
                str(params.get("UpdateExpression", ""))
            )

    def _after_update(self, http_response: Any, context: dict[str, Any], **_: Any) -> None:
        kind = context.pop("sluice_checkpoint_write", None)
        if kind is None:
            return
        with self._lock:
            self.writes[kind] += 1
            if http_response.status_code >= 300:
                self.failed_writes += 1

    def _after_s3(self, model: Any, **_: Any) -> None:
        if self._ours():
            with self._lock:
                self.s3[model.name] += 1


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
    import boto3

    overrides = samconfig_overrides(ROOT / "samconfig.toml", "local")
    overrides["CheckpointRows"] = str(checkpoint_rows)
    sample = sample_objects(objects, rows, failing=0)
    with deployed(
        ROOT / "template.yaml",
        overrides,
        time_scale=time_scale,
        latency_s=0.005,
        log_dir=ROOT / ".demo" / "bench-logs",
    ) as (pipeline, downstream):
        meter = CheckpointMeter(pipeline.outputs["CheckpointTableName"])
        meter.register(boto3._get_default_session().events)
        report = run_job(pipeline, downstream, sample, timeout=3600)
        job = f"bench:cost_model rows CheckpointRows={checkpoint_rows}"
        report_run(pipeline, ROOT, job, report)
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


# -- payments pipeline ----------------------------------------------------------------------------

PAYMENT_MACHINE = "PaymentStateMachine"
PAYMENT_PIPE = "PaymentPipe"
PAYMENT_FUNCTIONS = ("ValidatePaymentFunction", "ProcessPaymentFunction", "EnrichPaymentFunction")
CHUNK_BYTES = 64 * 1024  # SNS, SQS and Pipes bill one request per 64 KB chunk of payload
EXPRESS_GB = 64 / 1024  # Express bills memory in 64 MB steps; a batch of events needs one
# The seed's design: a trigger function subscribed to PaymentTopic calls StartExecution per event.
SEED_TRIGGER_SECONDS, SEED_TRIGGER_GB = 0.020, 128 / 1024
SEED_EXPRESS_SECONDS = 0.1  # one event an execution: billed one 100 ms increment at least
ERROR_LOG_RECORD_BYTES = 1024  # a workflow log record at ERROR level, no execution data (assumed)
PLATFORM_LOG_BYTES = 350  # Lambda's START, END and REPORT lines of one invocation (assumed)
GB = 1024**3
# Not documented for Pipes; assumed as for Lambda's SQS event source: 5 pollers, 20 s long polls.
IDLE_POLLS_PER_MONTH = 5 * 3 * 60 * 24 * 30

# The line items that depend on the design (how events reach the workflow and how it runs);
# the others (the steps, the writes, the dead letters) cost the same per event in both.
DELIVERY_ITEMS = (
    "SQS: SNS -> PaymentQueue SendMessage",
    "SQS: pipe ReceiveMessage + DeleteMessageBatch",
    "EventBridge Pipes requests",
    "Lambda: trigger function (requests + duration)",
    "Step Functions requests (Express)",
    "Step Functions duration (Express, estimate)",
)


@dataclass(frozen=True)
class PaymentCounts:
    """Billable units per published payment event."""

    sns_publish_requests: float
    sqs_sns_sends: float  # SNS -> PaymentQueue: one SendMessage per event (64 KB chunks)
    sqs_pipe_requests: float  # PaymentPipe: one ReceiveMessage + one DeleteMessageBatch a batch
    pipes_requests: float
    trigger_requests: float  # the seed's trigger function; none in Sluice
    trigger_gb_seconds: float
    express_requests: float
    express_gb_seconds: float
    step_requests: float  # ValidatePayment, ProcessPayment, EnrichPayment
    step_gb_seconds: float
    ddb_write_units: float  # table + GSI
    dead_letter_sends: float
    error_log_gb: float

    def line_items(self) -> dict[str, float]:
        """$ per million payment events, per line item."""
        per_million = {
            "SNS publish requests": self.sns_publish_requests * PRICE["sns_publish_request"],
            "SQS: SNS -> PaymentQueue SendMessage": self.sqs_sns_sends * PRICE["sqs_request"],
            "SQS: pipe ReceiveMessage + DeleteMessageBatch": (
                self.sqs_pipe_requests * PRICE["sqs_request"]
            ),
            "EventBridge Pipes requests": self.pipes_requests * PRICE["pipes_request"],
            "Lambda: trigger function (requests + duration)": (
                self.trigger_requests * PRICE["lambda_request"]
                + self.trigger_gb_seconds * PRICE["lambda_gb_second"]
            ),
            "Step Functions requests (Express)": (
                self.express_requests * PRICE["sfn_express_request"]
            ),
            "Step Functions duration (Express, estimate)": (
                self.express_gb_seconds * PRICE["sfn_express_gb_second"]
            ),
            "Lambda requests (3 payment steps)": self.step_requests * PRICE["lambda_request"],
            "Lambda duration (3 payment steps, arm64, estimate)": (
                self.step_gb_seconds * PRICE["lambda_gb_second"]
            ),
            "DynamoDB writes (table + GSI, on-demand WRU)": (
                self.ddb_write_units * PRICE["ddb_write_request_unit"]
            ),
            "SQS: dead-letter SendMessage (rejected events)": (
                self.dead_letter_sends * PRICE["sqs_request"]
            ),
            "CloudWatch Logs (workflow + pipe at ERROR)": (
                self.error_log_gb * PRICE["logs_ingested_gb"]
            ),
        }
        return {item: value * MILLION for item, value in per_million.items()}


def seed_payments(measured: PaymentCounts) -> PaymentCounts:
    """The seed's design, priced from the same run: PaymentTopic -> a trigger Lambda (SNS ->
    Lambda delivery is free; ~20 ms at 128 MB) that calls StartExecution for each event: no
    queue, no pipe, no batching. The steps, the writes and the dead letters are the same per
    event. One event's Express execution is billed one 100 ms increment, the least it can be:
    the seed's duration is a lower bound."""
    return replace(
        measured,
        sqs_sns_sends=0.0,
        sqs_pipe_requests=0.0,
        pipes_requests=0.0,
        trigger_requests=1.0,
        trigger_gb_seconds=SEED_TRIGGER_SECONDS * SEED_TRIGGER_GB,
        express_requests=1.0,
        express_gb_seconds=SEED_EXPRESS_SECONDS * EXPRESS_GB,
    )


def _chunks(payload: str) -> int:
    return max(1, math.ceil(len(payload.encode()) / CHUNK_BYTES))


def _number_size(text: str) -> int:
    digits = Decimal(text).normalize().as_tuple().digits  # leading and trailing zeros trimmed
    return math.ceil(len(digits) / 2) + 1


def value_size(value: dict[str, Any]) -> int:
    """Bytes DynamoDB counts for one attribute value (its documented approximation)."""
    ((kind, data),) = value.items()
    if kind == "S":
        return len(data.encode())
    if kind == "N":
        return _number_size(data)
    if kind in ("B", "BS"):
        return len(data) if kind == "B" else sum(len(b) for b in data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in data)
    if kind == "NS":
        return sum(_number_size(n) for n in data)
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in data)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(v) for k, v in data.items())
    raise ValueError(f"unknown DynamoDB type {kind}")


def item_size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB bills it: attribute names plus values."""
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def index_write_units(item: dict[str, Any], table: dict[str, Any]) -> int:
    """WRU a new item costs in the table's global secondary indexes (none in an index whose
    keys the item lacks)."""
    table_keys = {k["AttributeName"] for k in table["KeySchema"]}
    units = 0
    for index in table.get("GlobalSecondaryIndexes", []):
        keys = {k["AttributeName"] for k in index["KeySchema"]}
        if not keys <= item.keys():
            continue
        projection = index["Projection"]
        names = (
            set(item)
            if projection["ProjectionType"] == "ALL"
            else table_keys | keys | set(projection.get("NonKeyAttributes", []))
        )
        units += math.ceil(item_size({n: v for n, v in item.items() if n in names}) / 1024)
    return units


def _emf_metrics(lines: list[str]) -> set[tuple[str, str, tuple[tuple[str, str], ...]]]:
    """Custom metrics (namespace, name, dimensions) the functions' EMF log lines create."""
    metrics = set()
    for line in lines:
        if '"_aws"' not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        for directive in record["_aws"].get("CloudWatchMetrics", []):
            for dimension_set in directive.get("Dimensions", []) or [[]]:
                dimensions = tuple((d, str(record.get(d))) for d in dimension_set)
                for metric in directive.get("Metrics", []):
                    metrics.add((directive["Namespace"], metric["Name"], dimensions))
    return metrics


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)] if ordered else 0.0


@dataclass(frozen=True)
class PaymentRun:
    counts: PaymentCounts
    facts: dict[str, object]
    excluded: dict[str, float]  # $ per million events, not in the table
    fixed_monthly: dict[str, float]  # $ per month, whatever the volume


def measure_payments(events: int, time_scale: float) -> PaymentRun:
    overrides = samconfig_overrides(ROOT / "samconfig.toml", "local")
    overrides["EnablePaymentPipeline"] = "true"
    share = max(1, round(events * 0.02))  # ~2 % invalid, ~2 % duplicates
    sample = sample_payments(events - share, invalid=share, duplicates=share)
    log_dir = ROOT / ".demo" / "bench-logs"
    logs = {f: log_dir / f"{f}.log" for f in PAYMENT_FUNCTIONS}
    log_offsets = {f: path.stat().st_size if path.exists() else 0 for f, path in logs.items()}
    with LocalPipeline(
        ROOT / "template.yaml", overrides, time_scale=time_scale, log_dir=log_dir
    ) as pipeline:
        report = run_payments(pipeline, sample, timeout=3600)
        report_run(pipeline, ROOT, "bench:cost_model payments", report)
        pipe = pipeline.pipes[PAYMENT_PIPE].stats
        executions = pipeline.executions(PAYMENT_MACHINE)
        history = pipeline.history_counts(PAYMENT_MACHINE)
        stats = pipeline.dispatcher.stats
        memory_gb = {
            f: pipeline.dispatcher.runtime_for(f).memory_mb / 1024 for f in PAYMENT_FUNCTIONS
        }
        items = stored_items(pipeline)
        assert pipeline.translated is not None
        resources = pipeline.translated.cloudformation["Resources"]
        parameters = dict(pipeline.translated.parameters)
    log_lines: list[str] = []
    log_bytes = 0
    for f, path in logs.items():
        with path.open("rb") as file:
            file.seek(log_offsets[f])
            new = file.read()
        log_bytes += len(new)
        log_lines.extend(new.decode("utf-8", "replace").splitlines())

    n = report.published
    walls = [
        (e["stopDate"] - e["startDate"]).total_seconds() for e in executions if e.get("stopDate")
    ]
    billed_seconds = sum(math.ceil(w * 10) / 10 for w in walls)
    step_invocations = sum(stats.invocations[f] for f in PAYMENT_FUNCTIONS)
    step_busy = sum(stats.busy_seconds[f] for f in PAYMENT_FUNCTIONS)
    table = resources["PaymentTable"]["Properties"]
    sizes = [item_size(item) for item in items]
    item_units = [math.ceil(size / 1024) for size in sizes]
    index_units = sum(index_write_units(item, table) for item in items)
    puts = history["task:dynamodb:putItem"]
    failed_puts = puts - len(items)  # conditional puts that found the transaction stored
    mean_units = sum(item_units) / len(item_units) if item_units else 1
    table_units = sum(item_units) + failed_puts * mean_units
    dead_letter_sends = history["task:sqs:sendMessage"]
    errors = sum(stats.errors[f] for f in PAYMENT_FUNCTIONS) + failed_puts + pipe.failed_executions
    publish_requests = sum(
        _chunks("".join(sample.bodies[start : start + 10]))
        for start in range(0, len(sample.bodies), 10)  # as sluice_local.jobs.payments.publish sends
    )
    body_chunks = sum(_chunks(b) for b in sample.bodies) / len(sample.bodies)
    counts = PaymentCounts(
        sns_publish_requests=publish_requests / n,
        sqs_sns_sends=body_chunks,
        sqs_pipe_requests=(pipe.batches + (pipe.batches - pipe.failed_executions)) / n,
        pipes_requests=pipe.messages * body_chunks / n,
        trigger_requests=0.0,
        trigger_gb_seconds=0.0,
        express_requests=len(executions) / n,
        express_gb_seconds=billed_seconds * EXPRESS_GB / n,
        step_requests=step_invocations / n,
        step_gb_seconds=sum(stats.busy_seconds[f] * memory_gb[f] for f in PAYMENT_FUNCTIONS) / n,
        ddb_write_units=(table_units + index_units) / n,
        dead_letter_sends=dead_letter_sends / n,
        error_log_gb=errors * ERROR_LOG_RECORD_BYTES / GB / n,
    )
    facts: dict[str, object] = {
        "events published": f"{n} ({sample.invalid} invalid, {sample.duplicates} duplicates)",
        "stored / dead / lost": (
            f"{report.stored} / {len(report.dead_lettered)} / {len(report.unaccounted)}"
        ),
        "PaymentBatchSize": parameters.get("PaymentBatchSize"),
        "executions (batches)": (
            f"{len(executions)} ({report.failed_executions} failed);"
            f" {pipe.messages / max(1, pipe.batches):.1f} events a batch"
        ),
        "execution wall time": (
            f"p50 {_percentile(walls, 0.5) * 1000:.0f} ms,"
            f" p95 {_percentile(walls, 0.95) * 1000:.0f} ms; billed {billed_seconds:.1f} s in all"
        ),
        "Lambda invocations": ", ".join(
            f"{stats.invocations[f]} {f.removesuffix('Function')}" for f in PAYMENT_FUNCTIONS
        ),
        "Lambda busy per call": f"{step_busy / max(1, step_invocations) * 1000:.0f} ms (local)",
        "DynamoDB puts": f"{puts} ({failed_puts} failed the condition: duplicates)",
        "DynamoDB items": (
            f"{len(items)} of {min(sizes, default=0)}-{max(sizes, default=0)} bytes;"
            f" WRU: {table_units:g} table (failed puts too) + {index_units} GSI"
        ),
        "dead-letter sends": dead_letter_sends,
        "wall time": f"{report.seconds:.1f} s ({report.events_per_second:.1f} events/s)",
    }
    stored_share = len(items) / n
    mean_size = sum(sizes) / len(sizes) if sizes else 0
    # Table and GSI each store the item plus 100 bytes of overhead; PITR bills the table's size.
    table_gb = stored_share * (mean_size + 100) * MILLION / GB
    index_gb = stored_share * (index_units / max(1, len(items))) * (mean_size + 100) * MILLION / GB
    function_log_bytes = log_bytes + PLATFORM_LOG_BYTES * step_invocations
    excluded = {
        f"CloudWatch Logs: function logs, {parameters.get('LogLevel', 'INFO')},"
        f" {function_log_bytes / n:.0f} B/event": (
            function_log_bytes / n / GB * PRICE["logs_ingested_gb"] * MILLION
        ),
        "DynamoDB storage + PITR, per month kept": (
            (table_gb + index_gb) * PRICE["ddb_storage_gb_month"]
            + table_gb * PRICE["ddb_pitr_gb_month"]
        ),
    }
    payment_resources = [
        r for r in resources.values() if r.get("Condition") == "CreatePaymentPipeline"
    ]
    keys = sum(r["Type"] == "AWS::KMS::Key" for r in payment_resources)
    alarms = sum(r["Type"] == "AWS::CloudWatch::Alarm" for r in payment_resources)
    metrics = len(_emf_metrics(log_lines))
    fixed_monthly = {
        f"KMS keys ({keys}: PaymentKey; $3 after 2 rotations)": keys * PRICE["kms_key_month"],
        f"CloudWatch alarms ({alarms})": alarms * PRICE["alarm_month"],
        f"custom metrics, from the functions' EMF lines ({metrics})": (
            metrics * PRICE["custom_metric_month"]
        ),
        "PaymentPipe's idle-queue long polls (assumed)": (
            IDLE_POLLS_PER_MONTH * PRICE["sqs_request"]
        ),
    }
    return PaymentRun(counts, facts, excluded, fixed_monthly)


def print_payments(run: PaymentRun) -> None:
    print("Payments pipeline, measured on the local runtime (EnablePaymentPipeline=true,")
    print("samconfig 'local' overrides):")
    for name, value in run.facts.items():
        print(f"  {name:<22} {value}")
    print("\nPer event:")
    for name, value in vars(run.counts).items():
        print(f"  {name:<22} {value:.6g}")

    sluice = run.counts.line_items()
    seed = seed_payments(run.counts).line_items()
    print(f"\n{'$ per million payment events':<52} {'Sluice':>10} {'seed design':>12}")
    for item in sluice:
        print(f"  {item:<50} {sluice[item]:>10.2f} {seed[item]:>12.2f}")
    total, seed_total = sum(sluice.values()), sum(seed.values())
    print(f"  {'total':<50} {total:>10.2f} {seed_total:>12.2f}")
    print(f"  {'ratio Sluice / seed':<50} {total / seed_total:>10.2f}")
    delivery = sum(sluice[i] for i in DELIVERY_ITEMS)
    seed_delivery = sum(seed[i] for i in DELIVERY_ITEMS)
    label = "SQS + Pipes + trigger + Express (design-dependent)"
    print(f"  {label:<50} {delivery:>10.2f} {seed_delivery:>12.2f}")
    print(f"  {'ratio Sluice / seed':<50} {delivery / seed_delivery:>10.2f}")
    print(
        "  (Lambda and Express durations: local timing, estimates; the seed's Express duration"
        "\n   is its 100 ms minimum. SNS: PublishBatch of 10 as the sample producer; one Publish"
        f"\n   per event would be {PRICE['sns_publish_request'] * MILLION:.2f} in both columns.)"
    )
    print("\nNot included above (Sluice; $ per million events):")
    for item, value in run.excluded.items():
        print(f"  {item:<50} {value:>10.2f}")
    print(f"  (function logs: the handlers' output measured + {PLATFORM_LOG_BYTES} B of Lambda's")
    print("   START/END/REPORT lines per invocation, assumed; storage: table and GSI)")
    print("  X-Ray (PaymentTracing=true; $5.00 per million traces recorded): sampled, not priced")
    print("  KMS requests to PaymentKey by SNS and DynamoDB ($0.03 per 10,000): not measured")
    print("\nFixed monthly costs ($ per month, not per event):")
    for item, value in run.fixed_monthly.items():
        print(f"  {item:<50} {value:>10.2f}")
    print(f"  {'total':<50} {sum(run.fixed_monthly.values()):>10.2f}")


# -- stream pipeline ------------------------------------------------------------------------------

STREAM_FUNCTION = "ProcessStreamFunction"
STREAM_MAPPING = "ProcessStreamMapping"
STREAM_TABLE = "StreamEventTable"
STREAM_MALFORMED_SHARE = 0.01
PUT_PAYLOAD_UNIT_BYTES = 25 * 1024  # Kinesis bills each record in 25 KB chunks
HOURS_PER_MONTH = 730
SUSTAINED_EVENTS_PER_SECOND = 100  # the rate at which shard-hours are also shown per event
BATCH_WRITE_ITEMS = 25  # BatchWriteItem's limit: at best one call per 25 records


class BatchWriteMeter:
    """What BatchWriteItem calls put into one table, from botocore's events: register it on a
    session's (or a client's) event emitter; clients created from that session afterwards report
    to it. Counts the calls sent and the items DynamoDB wrote (UnprocessedItems and refused
    calls left out), with the write request units each write costs in the table and its
    global secondary indexes."""

    def __init__(self, table_name: str, table: dict[str, Any]) -> None:
        self.table_name = table_name
        self.table = table  # the table resource's Properties (KeySchema, GlobalSecondaryIndexes)
        self.key_names = [k["AttributeName"] for k in table["KeySchema"]]
        self.calls = 0
        self.refused_calls = 0
        self.item_writes = 0
        self.table_units = 0
        self.index_units = 0
        # item key -> (size, table WRU, index WRU) of its last write
        self.last_write: dict[str, tuple[int, int, int]] = {}
        self._lock = threading.Lock()

    def register(self, events: Any) -> None:
        events.register("before-parameter-build.dynamodb.BatchWriteItem", self._before)
        events.register("after-call.dynamodb.BatchWriteItem", self._after)

    def _key(self, item: dict[str, Any]) -> str:
        return json.dumps([item.get(name) for name in self.key_names], sort_keys=True)

    def _before(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        requests = params.get("RequestItems", {}).get(self.table_name, [])
        if not requests:
            return
        context["sluice_put_items"] = [
            r["PutRequest"]["Item"] for r in requests if "PutRequest" in r
        ]
        with self._lock:
            self.calls += 1

    def _after(
        self, http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any
    ) -> None:
        items: list[dict[str, Any]] = context.pop("sluice_put_items", [])
        if not items:
            return
        if http_response.status_code >= 300:  # refused whole (throttled, 5xx): nothing written
            with self._lock:
                self.refused_calls += 1
            return
        left = parsed.get("UnprocessedItems", {}).get(self.table_name, [])
        left_keys = {self._key(r["PutRequest"]["Item"]) for r in left if "PutRequest" in r}
        with self._lock:
            for item in items:
                key = self._key(item)
                if key in left_keys:
                    continue
                size = item_size(item)
                units = math.ceil(size / 1024)
                index_units = index_write_units(item, self.table)
                self.item_writes += 1
                self.table_units += units
                self.index_units += index_units
                self.last_write[key] = (size, units, index_units)


class PutRecordsMeter:
    """The records PutRecords calls put on a stream (records it refused left out), from
    botocore's events on the client that sends them."""

    def __init__(self) -> None:
        self.calls = 0
        self.sizes: list[int] = []  # bytes of each record put: data + partition key
        self._lock = threading.Lock()

    def register(self, events: Any) -> None:
        events.register("before-parameter-build.kinesis.PutRecords", self._before)
        events.register("after-call.kinesis.PutRecords", self._after)

    @property
    def payload_units(self) -> int:
        return sum(math.ceil(size / PUT_PAYLOAD_UNIT_BYTES) for size in self.sizes)

    def _before(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        sizes = []
        for record in params.get("Records", []):
            data = record["Data"]
            data = data.encode() if isinstance(data, str) else data
            sizes.append(len(data) + len(str(record["PartitionKey"]).encode()))
        context["sluice_record_sizes"] = sizes
        with self._lock:
            self.calls += 1

    def _after(
        self, http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any
    ) -> None:
        sizes: list[int] = context.pop("sluice_record_sizes", [])
        if http_response.status_code >= 300:
            return
        results = parsed.get("Records", [])
        accepted = [
            size for size, result in zip(sizes, results, strict=False) if "ErrorCode" not in result
        ]
        with self._lock:
            self.sizes.extend(accepted)


@dataclass(frozen=True)
class StreamCounts:
    """Billable units per produced stream event (malformed ones included)."""

    put_payload_units: float
    lambda_requests: float  # ProcessStreamFunction invocations: retries and bisections included
    lambda_gb_seconds: float
    ddb_table_write_units: float  # every item write, rewrites included
    ddb_index_write_units: float  # the same writes in ByUserTime and ByTypeTime
    dead_letter_sends: float  # on-failure records, one per dead-lettered range

    def line_items(self) -> dict[str, float]:
        """$ per million stream events, per line item (shard-hours apart: not per event)."""
        per_event = {
            "Kinesis PUT payload units (25 KB each)": (
                self.put_payload_units * PRICE["kinesis_put_payload_unit"]
            ),
            "Lambda requests (ProcessStream, retries included)": (
                self.lambda_requests * PRICE["lambda_request"]
            ),
            "Lambda duration (ProcessStream, 512 MB arm64, estimate)": (
                self.lambda_gb_seconds * PRICE["lambda_gb_second"]
            ),
            "DynamoDB writes: table (on-demand WRU, rewrites incl.)": (
                self.ddb_table_write_units * PRICE["ddb_write_request_unit"]
            ),
            "DynamoDB writes: 2 GSIs, ALL projection (WRU)": (
                self.ddb_index_write_units * PRICE["ddb_write_request_unit"]
            ),
            "SQS: on-failure SendMessage (dead-lettered ranges)": (
                self.dead_letter_sends * PRICE["sqs_request"]
            ),
        }
        return {item: value * MILLION for item, value in per_event.items()}


@dataclass(frozen=True)
class StreamRun:
    counts: StreamCounts
    facts: dict[str, object]
    shards: int
    write_calls_per_record: float
    writes_once: (
        float  # $ per million events of DynamoDB writes if each stored item were written once
    )
    excluded: dict[str, float]  # $ per million events, not in the table
    fixed_monthly: dict[str, float]  # $ per month, whatever the volume
    notes: list[str]


def _logged_write_calls(lines: list[str]) -> int:
    """The sum of write_calls the function logged ("stream batch processed", one per batch)."""
    total = 0
    for line in lines:
        if '"write_calls"' not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            total += int(record.get("write_calls", 0))
    return total


def measure_stream(events: int, time_scale: float) -> StreamRun:
    import boto3

    overrides = samconfig_overrides(ROOT / "samconfig.toml", "local")
    overrides["EnableStreamPipeline"] = "true"
    malformed = max(1, round(events * STREAM_MALFORMED_SHARE))
    sample = sample_events(events, malformed=malformed, seed=7)
    log_dir = ROOT / ".demo" / "bench-logs"
    log_path = log_dir / f"{STREAM_FUNCTION}.log"
    log_offset = log_path.stat().st_size if log_path.exists() else 0
    with LocalPipeline(
        ROOT / "template.yaml", overrides, time_scale=time_scale, log_dir=log_dir
    ) as pipeline:
        assert pipeline.translated is not None
        resources = pipeline.translated.cloudformation["Resources"]
        parameters = dict(pipeline.translated.parameters)
        writes = BatchWriteMeter(
            pipeline.outputs["StreamEventTableName"], resources[STREAM_TABLE]["Properties"]
        )
        # mock_aws replaced boto3.DEFAULT_SESSION when the pipeline started; the function's
        # boto3.client("dynamodb") comes from the session now current, at its first invocation.
        writes.register(boto3._get_default_session().events)
        puts = PutRecordsMeter()
        kinesis = pipeline.client("kinesis")
        puts.register(kinesis.meta.events)  # run_stream produces through this client
        report = run_stream(pipeline, sample, timeout=3600)
        report_run(pipeline, ROOT, "bench:cost_model stream", report)
        mapping = pipeline.stream_mappings[STREAM_MAPPING].stats
        batch_sizes = list(mapping.batch_sizes)
        stats = pipeline.dispatcher.stats
        invocations = stats.invocations[STREAM_FUNCTION]
        busy = stats.busy_seconds[STREAM_FUNCTION]
        memory_gb = pipeline.dispatcher.runtime_for(STREAM_FUNCTION).memory_mb / 1024
        shards = len(kinesis.list_shards(StreamName=pipeline.outputs["EventStreamName"])["Shards"])
    with log_path.open("rb") as file:
        file.seek(log_offset)
        new = file.read()
    log_bytes = len(new)
    log_lines = new.decode("utf-8", "replace").splitlines()
    logged_calls = _logged_write_calls(log_lines)

    n = report.produced
    stored = len(writes.last_write)
    sizes = [size for size, _, _ in writes.last_write.values()]
    once_units = sum(units + index for _, units, index in writes.last_write.values())
    batch_size = int(parameters.get("StreamBatchSize", 100))
    counts = StreamCounts(
        put_payload_units=puts.payload_units / n,
        lambda_requests=invocations / n,
        lambda_gb_seconds=busy * memory_gb / n,
        ddb_table_write_units=writes.table_units / n,
        ddb_index_write_units=writes.index_units / n,
        dead_letter_sends=mapping.dead_lettered_ranges / n,
    )
    calls_check = (
        "as the function logged"
        if logged_calls == writes.calls
        else f"the function logged {logged_calls}: MISMATCH"
    )
    facts: dict[str, object] = {
        "events produced": f"{n} ({report.malformed_published} malformed), one burst",
        "stored / dead / lost": (
            f"{report.stored} / {report.dead_lettered_records} records in"
            f" {report.dead_letter_ranges} ranges / {len(report.unaccounted)}"
        ),
        "StreamBatchSize": f"{batch_size}; {shards} shard(s)",
        "invocations": (
            f"{invocations} ({mapping.retries} retries, {mapping.bisections} bisections,"
            f" {mapping.partial_failures} partial failures, {mapping.function_errors} errors)"
        ),
        "batches": (
            f"mean {sum(batch_sizes) / max(1, len(batch_sizes)):.1f} records;"
            f" {sum(1 for b in batch_sizes if b == batch_size)} of {len(batch_sizes)} full"
        ),
        "Kinesis records put": (
            f"{len(puts.sizes)} in {puts.calls} PutRecords calls;"
            f" {min(puts.sizes, default=0)}-{max(puts.sizes, default=0)} bytes"
            f" (mean {sum(puts.sizes) / max(1, len(puts.sizes)):.0f}, data + key);"
            f" {puts.payload_units} PUT payload units"
        ),
        "BatchWriteItem calls": (
            f"{writes.calls} ({calls_check}; {writes.refused_calls} refused);"
            f" {writes.calls / n:.4f} a record"
        ),
        "DynamoDB item writes": (
            f"{writes.item_writes} for {stored} items stored"
            f" ({writes.item_writes / max(1, stored):.2f} writes an item: retries rewrite)"
        ),
        "DynamoDB items": (
            f"{min(sizes, default=0)}-{max(sizes, default=0)} bytes;"
            f" WRU: {writes.table_units} table + {writes.index_units} GSI"
        ),
        "Lambda busy per call": f"{busy / max(1, invocations) * 1000:.0f} ms (local)",
        "wall time": f"{report.seconds:.1f} s ({report.records_per_second:.0f} records/s)",
    }
    # Table and each ALL-projection index store the item plus 100 bytes; PITR bills the table.
    indexes = len(resources[STREAM_TABLE]["Properties"].get("GlobalSecondaryIndexes", []))
    item_gb = stored / n * (sum(sizes) / max(1, stored) + 100) * MILLION / GB
    function_log_bytes = log_bytes + PLATFORM_LOG_BYTES * invocations
    excluded = {
        f"CloudWatch Logs: function logs, {parameters.get('LogLevel', 'INFO')},"
        f" {function_log_bytes / n:.0f} B/event": (
            function_log_bytes / n / GB * PRICE["logs_ingested_gb"] * MILLION
        ),
        f"DynamoDB storage (table + {indexes} GSIs) + PITR, per month kept": (
            item_gb * (1 + indexes) * PRICE["ddb_storage_gb_month"]
            + item_gb * PRICE["ddb_pitr_gb_month"]
        ),
    }
    stream_resources = [
        r for r in resources.values() if r.get("Condition") == "CreateStreamPipeline"
    ]
    keys = sum(r["Type"] == "AWS::KMS::Key" for r in stream_resources)
    alarms = sum(r["Type"] == "AWS::CloudWatch::Alarm" for r in stream_resources)
    metrics = len(_emf_metrics(log_lines))
    fixed_monthly = {
        f"Kinesis shard-hours ({shards} shard(s) x {HOURS_PER_MONTH} h)": (
            shards * HOURS_PER_MONTH * PRICE["kinesis_shard_hour"]
        ),
        f"KMS keys ({keys}: StreamKey; $3 after 2 rotations)": keys * PRICE["kms_key_month"],
        f"CloudWatch alarms ({alarms})": alarms * PRICE["alarm_month"],
        f"custom metrics, from the function's EMF lines ({metrics})": (
            metrics * PRICE["custom_metric_month"]
        ),
    }
    notes = []
    if parameters.get("EnableCloudWatchDashboard") == "true":
        notes.append("StreamDashboard: a dashboard beyond the account's first 3 is billed monthly")
    if "".join(str(parameters.get("StreamShardLevelMetrics", ""))):
        notes.append("StreamShardLevelMetrics are on: each is billed as a custom metric")
    return StreamRun(
        counts=counts,
        facts=facts,
        shards=shards,
        write_calls_per_record=writes.calls / n,
        writes_once=once_units / n * PRICE["ddb_write_request_unit"] * MILLION,
        excluded=excluded,
        fixed_monthly=fixed_monthly,
        notes=notes,
    )


def print_stream(run: StreamRun) -> None:
    print("Stream pipeline, measured on the local runtime (EnableStreamPipeline=true,")
    print("samconfig 'local' overrides):")
    for name, value in run.facts.items():
        print(f"  {name:<22} {value}")
    print("\nPer event:")
    for name, value in vars(run.counts).items():
        print(f"  {name:<22} {value:.6g}")

    items = run.counts.line_items()
    print(f"\n{'$ per million stream events':<62} {'Sluice':>10}")
    for item, value in items.items():
        print(f"  {item:<60} {value:>10.2f}")
    total = sum(items.values())
    print(f"  {'total (per-event items)':<60} {total:>10.2f}")
    hours = MILLION / SUSTAINED_EVENTS_PER_SECOND / 3600
    shard_hours = run.shards * hours * PRICE["kinesis_shard_hour"]
    label = (
        f"Kinesis shard-hours at {SUSTAINED_EVENTS_PER_SECOND} events/s sustained"
        f" ({run.shards} x {hours:.2f} h)"
    )
    print(f"  {label:<60} {shard_hours:>10.2f}")
    label = f"total with shard-hours at {SUSTAINED_EVENTS_PER_SECOND} events/s"
    print(f"  {label:<60} {total + shard_hours:>10.2f}")

    calls = run.write_calls_per_record
    print(
        f"\nDynamoDB write calls per record: {calls:.4f}"
        f" (1 per {1 / max(calls, 1e-12):.1f} records; full batches written once:"
        f" 1 per {BATCH_WRITE_ITEMS})"
    )
    written = (
        (run.counts.ddb_table_write_units + run.counts.ddb_index_write_units)
        * PRICE["ddb_write_request_unit"]
        * MILLION
    )
    print(
        f"DynamoDB writes if each stored item were written once: {run.writes_once:.2f}"
        f" $/million (measured: {written / max(run.writes_once, 1e-12):.2f} x that;"
        "\n  the difference is retried batches writing their records again)"
    )
    print(
        "  (Lambda duration: local timing, an estimate. A put replacing an identical item is"
        "\n   counted in both GSIs again: an upper bound. Kinesis reads are not billed.)"
    )
    print("\nNot included above ($ per million events):")
    for item, value in run.excluded.items():
        print(f"  {item:<60} {value:>10.2f}")
    print(f"  (function logs: the handler's output measured + {PLATFORM_LOG_BYTES} B of Lambda's")
    print("   START/END/REPORT lines per invocation, assumed)")
    print(
        "  X-Ray (Globals Tracing: Active; $5.00 per million traces recorded): sampled, not priced"
    )
    print("  KMS requests to StreamKey by Kinesis and DynamoDB ($0.03 per 10,000): not measured")
    for note in run.notes:
        print(f"  {note}: not priced")
    print("\nFixed monthly costs ($ per month, not per event):")
    for item, value in run.fixed_monthly.items():
        print(f"  {item:<60} {value:>10.2f}")
    print(f"  {'total':<60} {sum(run.fixed_monthly.values()):>10.2f}")


def print_objects(counts: Counts, facts: dict[str, object]) -> None:
    print("Measured on the local runtime (shipped template, samconfig 'local' overrides):")
    for name, value in facts.items():
        print(f"  {name:<22} {value}")
    print("\nPer object:")
    for name, value in vars(counts).items():
        print(f"  {name:<22} {value:.4f}")

    sluice = counts.orchestration_and_queueing()
    seed = SEED_DESIGN.orchestration_and_queueing()
    print(f"\n{'$ per million objects':<52} {'Sluice':>10} {'seed design':>12}")
    for item in sluice:
        print(f"  {item:<50} {sluice[item]:>10.2f} {seed[item]:>12.2f}")
    total, seed_total = sum(sluice.values()), sum(seed.values())
    print(f"  {'orchestration + queueing':<50} {total:>10.2f} {seed_total:>12.2f}")
    print(f"  {'ratio Sluice / seed':<50} {total / seed_total:>10.2f}")
    print("\nNot included above (per-object work, the same in any design):")
    for item, value in counts.excluded().items():
        print(f"  {item:<50} {value:>10.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--pipeline", choices=("objects", "rows", "payments", "stream", "all"), default="all"
    )
    parser.add_argument("--objects", type=int, default=200, help="objects (objects pipeline)")
    parser.add_argument("--rows", type=int, default=10, help="rows per object (objects pipeline)")
    parser.add_argument(
        "--events", type=int, default=500, help="payment events to publish (payments pipeline)"
    )
    parser.add_argument(
        "--stream-events",
        type=int,
        default=2000,
        help="stream events to produce, about 1%% malformed (stream pipeline)",
    )
    parser.add_argument(
        "--checkpoint-rows",
        type=int,
        nargs="+",
        default=[1, 10, 100],
        help="CheckpointRows values, a run each (rows pipeline)",
    )
    parser.add_argument("--row-objects", type=int, default=20, help="objects (rows pipeline)")
    parser.add_argument("--row-rows", type=int, default=500, help="rows per object (rows pipeline)")
    parser.add_argument(
        "--row-latency",
        default="5-30",
        help="the modelled API's seconds a row, LOW-HIGH uniform (rows pipeline)",
    )
    parser.add_argument("--time-scale", type=float, default=0.02)
    args = parser.parse_args()
    low, _, high = args.row_latency.partition("-")
    latency = (float(low), float(high or low))

    parts = {
        "objects": lambda: print_objects(*measure(args.objects, args.rows, args.time_scale)),
        "rows": lambda: print_rows(
            [
                measure_rows(args.row_objects, args.row_rows, args.time_scale, n)
                for n in args.checkpoint_rows
            ],
            latency,
        ),
        "payments": lambda: print_payments(measure_payments(args.events, args.time_scale)),
        "stream": lambda: print_stream(measure_stream(args.stream_events, args.time_scale)),
    }
    chosen = list(parts) if args.pipeline == "all" else [args.pipeline]
    for number, part in enumerate(chosen):
        if number:
            print("\n" + "-" * 76 + "\n")
        parts[part]()


if __name__ == "__main__":
    main()
