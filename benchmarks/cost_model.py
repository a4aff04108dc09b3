"""Cost per million objects (S3 pipeline) and per million payment events (payments pipeline) at
list price, from counts taken in real local runs.

    .venv/bin/python benchmarks/cost_model.py [--pipeline {objects,payments,all}]
        [--objects 200 --rows 10] [--events 500]

Objects (--pipeline objects): runs the shipped template (samconfig's local overrides, no others)
through the local runtime, then counts what AWS would bill: for the drain state machine, state
transitions (Standard) or executions and their billed duration (Express); the SQS calls each Task
made (from the execution histories); Lambda requests and billed duration (from the runtime's
dispatcher); one EventBridge -> SQS delivery and one S3 GET per object. Express duration is each
execution's wall time on the local runtime: Wait states run time-scaled there, while every
service runs slower than on AWS in one emulator process; the figure is an estimate, printed as
such. The same model prices the seeds' per-object design from its structure (see SEED_DESIGN).

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

Prices: us-east-1 list prices, no free tier, checked 2026-11:
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
- S3 GET: $0.0004 per 1,000 requests. https://aws.amazon.com/s3/pricing/
- SNS standard topics: $0.50 per million publish requests (per 64 KB chunk; a PublishBatch of up
  to 10 messages is one request per 64 KB chunk of its payload); deliveries to SQS queues and
  Lambda functions carry no charge. https://aws.amazon.com/sns/pricing/
- DynamoDB on-demand: $0.625 per million write request units (a write of an item of up to 1 KB
  is 1 WRU, rounded up per KB; each global secondary index the item is written to costs as much
  again; a conditional write that fails still consumes WRU); storage $0.25 per GB-month,
  continuous backups (PITR) $0.20 per GB-month. https://aws.amazon.com/dynamodb/pricing/
- KMS: $1 per customer managed key per month (each of its first two automatic rotations adds
  $1/month). https://aws.amazon.com/kms/pricing/
- CloudWatch: logs ingestion $0.50 per GB; standard alarms $0.10 per alarm-month; custom
  metrics $0.30 per metric-month. https://aws.amazon.com/cloudwatch/pricing/
"""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from sluice_local.demo import deployed, run_job, sample_objects
from sluice_local.payments import run_payments, sample_payments, stored_items
from sluice_local.runtime import LocalPipeline
from sluice_local.template import samconfig_overrides

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
    s3_gets: float

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
            "S3 GET per object": self.s3_gets * PRICE["s3_get"] * MILLION,
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
        report = run_job(pipeline, downstream, sample, timeout=3600)
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
        s3_gets=stats.invocations["ProcessObjectFunction"] / n,
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
        for start in range(0, len(sample.bodies), 10)  # as sluice_local.payments.publish sends
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
    parser.add_argument("--pipeline", choices=("objects", "payments", "all"), default="all")
    parser.add_argument("--objects", type=int, default=200)
    parser.add_argument("--rows", type=int, default=10)
    parser.add_argument("--events", type=int, default=500, help="payment events to publish")
    parser.add_argument("--time-scale", type=float, default=0.02)
    args = parser.parse_args()

    if args.pipeline in ("objects", "all"):
        print_objects(*measure(args.objects, args.rows, args.time_scale))
    if args.pipeline == "all":
        print("\n" + "-" * 76 + "\n")
    if args.pipeline in ("payments", "all"):
        print_payments(measure_payments(args.events, args.time_scale))


if __name__ == "__main__":
    main()
