"""Payments (--pipeline payments): publishes --events payment events (about 2 % invalid and 2 %
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
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from local_runs import ROOT, local_pipeline, percentile

from sluice_local.jobs.payments import run_payments, sample_payments, stored_items
from sluice_local.jobs.report import report_run

from .measured import (
    PLATFORM_LOG_BYTES,
    LogTail,
    function_logs,
    pipeline_fixed_costs,
    print_items,
    print_measured,
    print_versus_seed,
)
from .prices import GB, MILLION, PRICE, line_items, priced
from .units import ITEM_OVERHEAD_BYTES, chunks, index_write_units, item_size

PAYMENT_MACHINE = "PaymentStateMachine"
PAYMENT_PIPE = "PaymentPipe"
PAYMENT_FUNCTIONS = ("ValidatePaymentFunction", "ProcessPaymentFunction", "EnrichPaymentFunction")
EXPRESS_GB = 64 / 1024  # Express bills memory in 64 MB steps; a batch of events needs one
# The seed's design: a trigger function subscribed to PaymentTopic calls StartExecution per event.
SEED_TRIGGER_SECONDS, SEED_TRIGGER_GB = 0.020, 128 / 1024
SEED_EXPRESS_SECONDS = 0.1  # one event an execution: billed one 100 ms increment at least
ERROR_LOG_RECORD_BYTES = 1024  # a workflow log record at ERROR level, no execution data (assumed)
# Not documented for Pipes; assumed as for Lambda's SQS event source: 5 pollers, 20 s long polls.
IDLE_POLLS_PER_MONTH = 5 * 3 * 60 * 24 * 30

TRIGGER_ITEM = "Lambda: trigger function (requests + duration)"

# The line items that depend on the design (how events reach the workflow and how it runs);
# the others (the steps, the writes, the dead letters) cost the same per event in both.
DELIVERY_ITEMS = (
    "SQS: SNS -> PaymentQueue SendMessage",
    "SQS: pipe ReceiveMessage + DeleteMessageBatch",
    "EventBridge Pipes requests",
    TRIGGER_ITEM,
    "Step Functions requests (Express)",
    "Step Functions duration (Express, estimate)",
)


@dataclass(frozen=True)
class PaymentCounts:
    """Billable units per published payment event."""

    sns_publish_requests: float = priced("SNS publish requests", "sns_publish_request")
    # SNS -> PaymentQueue: one SendMessage per event (64 KB chunks)
    sqs_sns_sends: float = priced("SQS: SNS -> PaymentQueue SendMessage", "sqs_request")
    # PaymentPipe: one ReceiveMessage + one DeleteMessageBatch a batch
    sqs_pipe_requests: float = priced(
        "SQS: pipe ReceiveMessage + DeleteMessageBatch", "sqs_request"
    )
    pipes_requests: float = priced("EventBridge Pipes requests", "pipes_request")
    # The seed's trigger function; none in Sluice.
    trigger_requests: float = priced(TRIGGER_ITEM, "lambda_request")
    trigger_gb_seconds: float = priced(TRIGGER_ITEM, "lambda_gb_second")
    express_requests: float = priced("Step Functions requests (Express)", "sfn_express_request")
    express_gb_seconds: float = priced(
        "Step Functions duration (Express, estimate)", "sfn_express_gb_second"
    )
    # ValidatePayment, ProcessPayment, EnrichPayment
    step_requests: float = priced("Lambda requests (3 payment steps)", "lambda_request")
    step_gb_seconds: float = priced(
        "Lambda duration (3 payment steps, arm64, estimate)", "lambda_gb_second"
    )
    # table + GSI
    ddb_write_units: float = priced(
        "DynamoDB writes (table + GSI, on-demand WRU)", "ddb_write_request_unit"
    )
    dead_letter_sends: float = priced(
        "SQS: dead-letter SendMessage (rejected events)", "sqs_request"
    )
    error_log_gb: float = priced("CloudWatch Logs (workflow + pipe at ERROR)", "logs_ingested_gb")

    def line_items(self) -> dict[str, float]:
        """$ per million payment events, per line item."""
        return line_items(self)


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


@dataclass(frozen=True)
class PaymentRun:
    counts: PaymentCounts
    facts: dict[str, object]
    excluded: dict[str, float]  # $ per million events, not in the table
    fixed_monthly: dict[str, float]  # $ per month, whatever the volume


def measure_payments(events: int, time_scale: float) -> PaymentRun:
    share = max(1, round(events * 0.02))  # ~2 % invalid, ~2 % duplicates
    sample = sample_payments(events - share, invalid=share, duplicates=share)
    logs = LogTail(PAYMENT_FUNCTIONS)
    with local_pipeline(time_scale, EnablePaymentPipeline="true") as pipeline:
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
    log_bytes, log_lines = logs.read()

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
        chunks("".join(sample.bodies[start : start + 10]))
        for start in range(0, len(sample.bodies), 10)  # as sluice_local.jobs.payments.publish sends
    )
    body_chunks = sum(chunks(b) for b in sample.bodies) / len(sample.bodies)
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
            f"p50 {percentile(walls, 0.5) * 1000:.0f} ms,"
            f" p95 {percentile(walls, 0.95) * 1000:.0f} ms; billed {billed_seconds:.1f} s in all"
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
    item_bytes = mean_size + ITEM_OVERHEAD_BYTES
    table_gb = stored_share * item_bytes * MILLION / GB
    index_gb = stored_share * (index_units / max(1, len(items))) * item_bytes * MILLION / GB
    logs_item, logs_cost = function_logs(parameters, log_bytes, step_invocations, n)
    excluded = {
        logs_item: logs_cost,
        "DynamoDB storage + PITR, per month kept": (
            (table_gb + index_gb) * PRICE["ddb_storage_gb_month"]
            + table_gb * PRICE["ddb_pitr_gb_month"]
        ),
    }
    fixed_monthly = {
        **pipeline_fixed_costs(
            resources, "CreatePaymentPipeline", "PaymentKey", "functions'", log_lines
        ),
        "PaymentPipe's idle-queue long polls (assumed)": (
            IDLE_POLLS_PER_MONTH * PRICE["sqs_request"]
        ),
    }
    return PaymentRun(counts, facts, excluded, fixed_monthly)


def print_payments(run: PaymentRun) -> None:
    print_measured(
        "Payments pipeline, measured on the local runtime (EnablePaymentPipeline=true,\n"
        "samconfig 'local' overrides):",
        run.facts,
        run.counts,
        "event",
        ".6g",
    )
    sluice = run.counts.line_items()
    seed = seed_payments(run.counts).line_items()
    print_versus_seed("$ per million payment events", sluice, seed, "total")
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
    print_items("\nNot included above (Sluice; $ per million events):", run.excluded, 50)
    print(f"  (function logs: the handlers' output measured + {PLATFORM_LOG_BYTES} B of Lambda's")
    print("   START/END/REPORT lines per invocation, assumed; storage: table and GSI)")
    print("  X-Ray (PaymentTracing=true; $5.00 per million traces recorded): sampled, not priced")
    print("  KMS requests to PaymentKey by SNS and DynamoDB ($0.03 per 10,000): not measured")
    print_items(
        "\nFixed monthly costs ($ per month, not per event):", run.fixed_monthly, 50, total=True
    )
