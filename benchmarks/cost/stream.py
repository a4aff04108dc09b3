"""Stream (--pipeline stream): produces --stream-events events (about 1 % malformed, from
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
"""

from __future__ import annotations

from dataclasses import dataclass

from local_runs import ROOT, local_pipeline

from sluice_local.jobs.report import report_run
from sluice_local.jobs.stream_job import run_stream
from sluice_ops.stream import sample_events

from .measured import (
    PLATFORM_LOG_BYTES,
    LogTail,
    function_logs,
    json_records,
    pipeline_fixed_costs,
    print_items,
    print_measured,
)
from .meters import BatchWriteMeter, PutRecordsMeter
from .prices import GB, MILLION, PRICE, line_items, priced
from .units import ITEM_OVERHEAD_BYTES

STREAM_FUNCTION = "ProcessStreamFunction"
STREAM_MAPPING = "ProcessStreamMapping"
STREAM_TABLE = "StreamEventTable"
STREAM_MALFORMED_SHARE = 0.01
HOURS_PER_MONTH = 730
SUSTAINED_EVENTS_PER_SECOND = 100  # the rate at which shard-hours are also shown per event
BATCH_WRITE_ITEMS = 25  # BatchWriteItem's limit: at best one call per 25 records


@dataclass(frozen=True)
class StreamCounts:
    """Billable units per produced stream event (malformed ones included)."""

    put_payload_units: float = priced(
        "Kinesis PUT payload units (25 KB each)", "kinesis_put_payload_unit"
    )
    # ProcessStreamFunction invocations: retries and bisections included
    lambda_requests: float = priced(
        "Lambda requests (ProcessStream, retries included)", "lambda_request"
    )
    lambda_gb_seconds: float = priced(
        "Lambda duration (ProcessStream, 512 MB arm64, estimate)", "lambda_gb_second"
    )
    # every item write, rewrites included
    ddb_table_write_units: float = priced(
        "DynamoDB writes: table (on-demand WRU, rewrites incl.)", "ddb_write_request_unit"
    )
    # the same writes in ByUserTime and ByTypeTime
    ddb_index_write_units: float = priced(
        "DynamoDB writes: 2 GSIs, ALL projection (WRU)", "ddb_write_request_unit"
    )
    # on-failure records, one per dead-lettered range
    dead_letter_sends: float = priced(
        "SQS: on-failure SendMessage (dead-lettered ranges)", "sqs_request"
    )

    def line_items(self) -> dict[str, float]:
        """$ per million stream events, per line item (shard-hours apart: not per event)."""
        return line_items(self)


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
    return sum(int(record.get("write_calls", 0)) for record in json_records(lines, '"write_calls"'))


def measure_stream(events: int, time_scale: float) -> StreamRun:
    import boto3

    malformed = max(1, round(events * STREAM_MALFORMED_SHARE))
    sample = sample_events(events, malformed=malformed, seed=7)
    logs = LogTail([STREAM_FUNCTION])
    with local_pipeline(time_scale, EnableStreamPipeline="true") as pipeline:
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
    log_bytes, log_lines = logs.read()
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
    item_gb = stored / n * (sum(sizes) / max(1, stored) + ITEM_OVERHEAD_BYTES) * MILLION / GB
    logs_item, logs_cost = function_logs(parameters, log_bytes, invocations, n)
    excluded = {
        logs_item: logs_cost,
        f"DynamoDB storage (table + {indexes} GSIs) + PITR, per month kept": (
            item_gb * (1 + indexes) * PRICE["ddb_storage_gb_month"]
            + item_gb * PRICE["ddb_pitr_gb_month"]
        ),
    }
    fixed_monthly = {
        f"Kinesis shard-hours ({shards} shard(s) x {HOURS_PER_MONTH} h)": (
            shards * HOURS_PER_MONTH * PRICE["kinesis_shard_hour"]
        ),
        **pipeline_fixed_costs(
            resources, "CreateStreamPipeline", "StreamKey", "function's", log_lines
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
    print_measured(
        "Stream pipeline, measured on the local runtime (EnableStreamPipeline=true,\n"
        "samconfig 'local' overrides):",
        run.facts,
        run.counts,
        "event",
        ".6g",
    )

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
    print_items("\nNot included above ($ per million events):", run.excluded, 60)
    print(f"  (function logs: the handler's output measured + {PLATFORM_LOG_BYTES} B of Lambda's")
    print("   START/END/REPORT lines per invocation, assumed)")
    print(
        "  X-Ray (Globals Tracing: Active; $5.00 per million traces recorded): sampled, not priced"
    )
    print("  KMS requests to StreamKey by Kinesis and DynamoDB ($0.03 per 10,000): not measured")
    for note in run.notes:
        print(f"  {note}: not priced")
    print_items(
        "\nFixed monthly costs ($ per month, not per event):", run.fixed_monthly, 60, total=True
    )
