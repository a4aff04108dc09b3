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

Settings: process_stream_settings (STREAM_EVENT_TABLE, WRITE_MAX_ATTEMPTS,
WRITE_BASE_DELAY_MS); the wiring: stream_wiring.
"""

from __future__ import annotations

import time
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from process_stream_settings import read_settings
from sluice_common.observability import logger, metrics, tracer
from stream_wiring import (
    batch_failures,
    batch_records,
    bind_batch,
    dynamodb_client,
    prepare_all,
    report,
    unwritten_of,
    write_settings,
)
from stream_writer import WriteSettings, write_items


@cache
def settings() -> WriteSettings:
    return write_settings(read_settings())


@cache
def dynamodb() -> Any:
    return dynamodb_client()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    started = time.monotonic()
    config = settings()  # a misconfiguration fails before any record is read
    records = batch_records(event)
    if not records:
        logger.warning("empty batch: nothing to write")
        return {"batchItemFailures": []}
    bind_batch(records)

    # Phase 1: every record to its item; a bad record is a failure, the others go on.
    prepared, rejected = prepare_all(records)

    # Phase 2: the good items, 25 a call; what stays unwritten is a failure too.
    try:
        written = write_items(
            dynamodb(),
            config,
            (record.item for record in prepared),
            time_left_s=lambda: context.get_remaining_time_in_millis() / 1000,
        )
    except Exception as exc:
        logger.exception(
            "stream batch not written", extra={"error": type(exc).__name__, "items": len(prepared)}
        )
        raise
    unwritten = unwritten_of(prepared, written)
    failures = batch_failures(records, rejected | unwritten)

    duration_ms = (time.monotonic() - started) * 1000
    report(len(records), len(failures), len(rejected), len(unwritten), written, duration_ms)
    return {"batchItemFailures": failures}
