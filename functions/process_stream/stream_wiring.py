"""ProcessStream's wiring: its client, how a batch's records are read, prepared, answered and
measured. The handler (app.py) strings these together; stream_events and stream_writer hold
the domain.

Log lines name a record by its shard, sequence number and a hash of its partition key: a
producer picks partition keys (often a user or card id), and the key stays in
StreamEventTable only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import (
    KinesisStreamRecord,
)

from process_stream_settings import ProcessStreamSettings
from sluice_common.errors import InvalidStreamEvent, MalformedEvent
from sluice_common.observability import dt_metrics, logger, metrics
from sluice_common.redact import fingerprint
from stream_events import PreparedRecord, prepare_record
from stream_writer import WriteResult, WriteSettings


def write_settings(config: ProcessStreamSettings) -> WriteSettings:
    """The writer's settings from the function's (the backoff base in milliseconds)."""
    return WriteSettings(
        table=config.table,
        max_attempts=config.write_max_attempts,
        base_delay_s=config.write_base_delay_ms / 1000,
    )


def dynamodb_client() -> Any:
    import boto3
    from botocore.config import Config

    # The writer backs off throttled calls itself; botocore adds one quick retry for a dropped
    # connection, and timeouts keep a stuck call from eating the invocation.
    config = Config(
        retries={"mode": "standard", "total_max_attempts": 2}, connect_timeout=2, read_timeout=5
    )
    return boto3.client("dynamodb", config=config)


def batch_records(event: object) -> list[dict[str, Any]]:
    """The event's Kinesis records; MalformedEvent if it is not a Kinesis event."""
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        raise MalformedEvent(
            "event has no Records list: ProcessStream reads Kinesis events as Lambda delivers them"
        )
    return records


def record_ids(record: KinesisStreamRecord) -> dict[str, str]:
    """The record's shard, sequence number and partition key's fingerprint, for its log lines."""
    raw = record.raw_event
    found = raw.get("kinesis")
    kinesis = found if isinstance(found, dict) else {}
    return {
        "shard_id": str(raw.get("eventID", "")).partition(":")[0],
        "sequence_number": str(kinesis.get("sequenceNumber", "")),
        "partition_key_hash": fingerprint(str(kinesis.get("partitionKey", ""))),
    }


def bind_batch(records: list[dict[str, Any]]) -> None:
    """Every later log line of this invocation names the shard and the sequence range."""
    first = record_ids(KinesisStreamRecord(records[0]))
    last = record_ids(KinesisStreamRecord(records[-1]))
    logger.thread_safe_clear_keys()
    logger.thread_safe_append_keys(
        shard_id=first["shard_id"],
        first_sequence_number=first["sequence_number"],
        last_sequence_number=last["sequence_number"],
    )


def prepare_all(records: list[dict[str, Any]]) -> tuple[list[PreparedRecord], set[str]]:
    """Every record to its item: the prepared records, and the sequence numbers of the records
    that are not valid events (each logged with its reason; the others go on)."""
    processor = BatchProcessor(
        event_type=EventType.KinesisDataStreams, raise_on_entire_batch_failure=False
    )
    with processor(records=records, handler=_prepare):
        outcomes = processor.process()
    prepared = [result for status, result, _ in outcomes if status == "success"]
    failures = processor.response()["batchItemFailures"]
    rejected = {str(failure["itemIdentifier"]) for failure in failures}  # sequence numbers
    return prepared, rejected


def _prepare(record: KinesisStreamRecord) -> PreparedRecord:
    try:
        prepared = prepare_record(record.raw_event)
    except InvalidStreamEvent as exc:
        logger.warning(
            "stream record rejected",
            extra={"error": type(exc).__name__, "reason": str(exc), **record_ids(record)},
        )
        raise
    except Exception:
        logger.exception("stream record failed unexpectedly", extra=record_ids(record))
        raise
    if prepared.ignored_fields:
        logger.info(
            "unknown fields ignored",
            extra={"fields": list(prepared.ignored_fields), **record_ids(record)},
        )
    return prepared


def unwritten_of(prepared: Iterable[PreparedRecord], written: WriteResult) -> set[str]:
    """The sequence numbers of the records whose item is still unwritten."""
    return {r.source.sequence_number for r in prepared if r.event_id in written.unwritten}


def batch_failures(records: Iterable[dict[str, Any]], failed: set[str]) -> list[dict[str, str]]:
    """The answer's batchItemFailures: the ``failed`` sequence numbers, in the batch's order."""
    return [
        {"itemIdentifier": sequence_number}
        for sequence_number in (KinesisStreamRecord(r).kinesis.sequence_number for r in records)
        if sequence_number in failed
    ]


def report(
    size: int,
    failures: int,
    rejected: int,
    unwritten: int,
    written: WriteResult,
    duration_ms: float,
) -> None:
    """The batch's metrics and its summary log line (with Dynatrace's dt.metrics)."""
    processed = size - failures
    metrics.add_metric(name="BatchSize", unit=MetricUnit.Count, value=size)
    metrics.add_metric(name="ProcessedEvents", unit=MetricUnit.Count, value=processed)
    metrics.add_metric(name="FailedEvents", unit=MetricUnit.Count, value=failures)
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
            "rejected": rejected,
            "unwritten": unwritten,
            "write_calls": written.calls,
            "write_attempts": written.attempts,
            **dt_metrics(
                stream_events_processed=processed,
                stream_events_failed=failures,
                stream_write_calls=written.calls,
            ),
        },
    )
