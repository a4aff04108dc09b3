"""ProcessStream handler: a batch of the stream pipeline's Kinesis records into StreamEventTable.

Phase 1 turns every record into its item (stream_events); a record that is not a valid event
is a batch item failure, its reason logged with its shard, sequence number and a hash of its
partition key.
Phase 2 writes the good items with BatchWriteItem (stream_writer); a record whose item is still
unwritten after the retries is a batch item failure too. Output:
``{"batchItemFailures": [{"itemIdentifier": "<sequence number>"}, ...]}`` (the event source
mapping must have ``FunctionResponseTypes: [ReportBatchItemFailures]``).

Lambda restarts the shard from the lowest sequence number reported, so the records after it
are delivered again and written again: harmless, an item is keyed by its eventId and holds
nothing that depends on when it was processed. When every record fails the answer lists them
all (Powertools would raise BatchProcessingError; it is told not to): Lambda retries the batch,
bisects it if so configured, and finally sends it to the on-failure destination. A
non-retryable DynamoDB error (the table missing, access denied) is raised: the deployment is
wrong, no record is.

Environment: STREAM_EVENT_TABLE (required), WRITE_MAX_ATTEMPTS (default 5, 1..10),
WRITE_BASE_DELAY_MS (default 50, 0..1000).
"""

from __future__ import annotations

import os
import time
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import (
    KinesisStreamRecord,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice_common.errors import InvalidStreamEvent, MalformedEvent
from sluice_common.observability import dt_metrics, logger, metrics, tracer
from sluice_common.redact import fingerprint
from stream_events import PreparedRecord, prepare_record
from stream_writer import WriteSettings, write_items


class StreamConfigurationError(Exception):
    """An environment variable of ProcessStream is missing or out of range."""


def _int_env(name: str, default: int, low: int, high: int) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise StreamConfigurationError(
            f"{name} is {text!r}; set a whole number from {low} to {high} (default {default})"
        )
    return value


@cache
def settings() -> WriteSettings:
    table = os.environ.get("STREAM_EVENT_TABLE", "").strip()
    if not table:
        raise StreamConfigurationError(
            "STREAM_EVENT_TABLE is not set: the template must pass the StreamEventTable's name"
        )
    return WriteSettings(
        table=table,
        max_attempts=_int_env("WRITE_MAX_ATTEMPTS", 5, 1, 10),
        base_delay_s=_int_env("WRITE_BASE_DELAY_MS", 50, 0, 1000) / 1000,
    )


@cache
def dynamodb() -> Any:
    import boto3
    from botocore.config import Config

    # The writer backs off throttled calls itself; botocore adds one quick retry for a dropped
    # connection, and timeouts keep a stuck call from eating the invocation.
    config = Config(
        retries={"mode": "standard", "total_max_attempts": 2}, connect_timeout=2, read_timeout=5
    )
    return boto3.client("dynamodb", config=config)


def _record_ids(record: KinesisStreamRecord) -> dict[str, str]:
    """The record's shard, sequence number and partition key's fingerprint, for its log lines.

    A producer picks partition keys (often a user or card id): logs carry a hash, which still
    groups a key's records, and the key stays in StreamEventTable only."""
    raw = record.raw_event
    found = raw.get("kinesis")
    kinesis = found if isinstance(found, dict) else {}
    return {
        "shard_id": str(raw.get("eventID", "")).partition(":")[0],
        "sequence_number": str(kinesis.get("sequenceNumber", "")),
        "partition_key_hash": fingerprint(str(kinesis.get("partitionKey", ""))),
    }


def _prepare(record: KinesisStreamRecord) -> PreparedRecord:
    try:
        prepared = prepare_record(record.raw_event)
    except InvalidStreamEvent as exc:
        logger.warning(
            "stream record rejected",
            extra={"error": type(exc).__name__, "reason": str(exc), **_record_ids(record)},
        )
        raise
    except Exception:
        logger.exception("stream record failed unexpectedly", extra=_record_ids(record))
        raise
    if prepared.ignored_fields:
        logger.info(
            "unknown fields ignored",
            extra={"fields": list(prepared.ignored_fields), **_record_ids(record)},
        )
    return prepared


def _bind_batch(records: list[dict[str, Any]]) -> None:
    """Every later log line of this invocation names the shard and the sequence range."""
    first, last = KinesisStreamRecord(records[0]), KinesisStreamRecord(records[-1])
    logger.thread_safe_clear_keys()
    logger.thread_safe_append_keys(
        shard_id=_record_ids(first)["shard_id"],
        first_sequence_number=_record_ids(first)["sequence_number"],
        last_sequence_number=_record_ids(last)["sequence_number"],
    )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    started = time.monotonic()
    write_settings = settings()  # a misconfiguration fails before any record is read
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        raise MalformedEvent(
            "event has no Records list: ProcessStream reads Kinesis events as Lambda delivers them"
        )
    if not records:
        logger.warning("empty batch: nothing to write")
        return {"batchItemFailures": []}
    _bind_batch(records)

    # Phase 1: every record to its item; a bad record is a failure, the others go on.
    processor = BatchProcessor(
        event_type=EventType.KinesisDataStreams, raise_on_entire_batch_failure=False
    )
    with processor(records=records, handler=_prepare):
        outcomes = processor.process()
    prepared: list[PreparedRecord] = [
        result for status, result, _ in outcomes if status == "success"
    ]
    rejected = {failure["itemIdentifier"] for failure in processor.response()["batchItemFailures"]}

    # Phase 2: the good items, 25 a call; what stays unwritten is a failure too.
    try:
        written = write_items(
            dynamodb(),
            write_settings,
            (record.item for record in prepared),
            time_left_s=lambda: context.get_remaining_time_in_millis() / 1000,
        )
    except Exception as exc:
        logger.exception(
            "stream batch not written", extra={"error": type(exc).__name__, "items": len(prepared)}
        )
        raise
    unwritten = {r.source.sequence_number for r in prepared if r.event_id in written.unwritten}
    failed = rejected | unwritten
    failures = [
        {"itemIdentifier": sequence_number}
        for sequence_number in (KinesisStreamRecord(r).kinesis.sequence_number for r in records)
        if sequence_number in failed
    ]

    size, processed = len(records), len(records) - len(failures)
    duration_ms = (time.monotonic() - started) * 1000
    metrics.add_metric(name="BatchSize", unit=MetricUnit.Count, value=size)
    metrics.add_metric(name="ProcessedEvents", unit=MetricUnit.Count, value=processed)
    metrics.add_metric(name="FailedEvents", unit=MetricUnit.Count, value=len(failures))
    metrics.add_metric(name="SuccessRate", unit=MetricUnit.Percent, value=processed / size * 100)
    metrics.add_metric(name="ProcessingDuration", unit=MetricUnit.Milliseconds, value=duration_ms)
    if written.unwritten:
        logger.warning(
            "stream items not written",
            extra={
                "unwritten": len(written.unwritten),
                "last_error": written.last_error,
                "attempts": written.attempts,
                "out_of_time": written.out_of_time,
            },
        )
    logger.info(
        "stream batch processed",
        extra={
            "batch_size": size,
            "rejected": len(rejected),
            "unwritten": len(unwritten),
            "write_calls": written.calls,
            "write_attempts": written.attempts,
            **dt_metrics(
                stream_events_processed=processed,
                stream_events_failed=len(failures),
                stream_write_calls=written.calls,
            ),
        },
    )
    return {"batchItemFailures": failures}
