"""The stream pipeline end to end on the local runtime: template.yaml with EnableStreamPipeline,
events put on EventStream by the producer, the event source mapping (sluice_local.sources.streams)
running the real ProcessStreamFunction, items in StreamEventTable, ranges in
StreamDeadLetterQueue."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from sluice_local.emulator.runtime import LocalPipeline
from sluice_local.jobs.stream_job import (
    StreamReport,
    dead_lettered_data,
    run_stream,
    stored_event_ids,
)
from sluice_ops.stream import replay, sample_events
from testkit.pipelines import pipeline_fixture

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e
EVENTS = sample_events(300, malformed=6, seed=21)


pipeline = pipeline_fixture(
    {
        "EnableStreamPipeline": "true",
        "StreamBatchSize": "50",
        "StreamBatchWindowSeconds": "0",
        "StreamMaximumRetryAttempts": "1",
        "StreamStartingPosition": "TRIM_HORIZON",
    }
)


@pytest.fixture(scope="module")
def report(pipeline: LocalPipeline) -> StreamReport:
    return run_stream(pipeline, EVENTS, rate=None, timeout=180)


def test_every_valid_event_is_one_item_and_every_malformed_one_is_in_a_dead_letter_range(
    report: StreamReport,
) -> None:
    assert report.produced == 300 and report.malformed_published == 6
    assert report.unaccounted == []
    assert report.stored == 294
    assert report.dead_lettered_records == 6  # bisection isolates each bad record
    assert report.dead_letter_ranges == 6


def test_the_good_records_of_a_batch_with_a_bad_one_are_written_once_not_failed(
    pipeline: LocalPipeline, report: StreamReport
) -> None:
    mapping = pipeline.stream_mappings["ProcessStreamMapping"]
    assert mapping.stats.partial_failures >= 1 and mapping.stats.function_errors == 0
    valid = {e.event_id for e in EVENTS if e.event_id}
    assert stored_event_ids(pipeline) == valid


def test_items_are_enriched_and_queryable_by_user_and_by_type(
    pipeline: LocalPipeline, report: StreamReport
) -> None:
    ddb, table = pipeline.client("dynamodb"), pipeline.outputs["StreamEventTableName"]

    def items(index: str, attribute: str, value: str) -> list[dict[str, Any]]:
        """The items of the index whose partition key ``attribute`` is ``value``."""
        found: list[dict[str, Any]] = ddb.query(
            TableName=table,
            IndexName=index,
            KeyConditionExpression=f"{attribute} = :v",
            ExpressionAttributeValues={":v": {"S": value}},
        )["Items"]
        return found

    first = json.loads(next(e for e in EVENTS if e.event_id).data)
    by_user = items("ByUserTime", "userId", first["userId"])
    assert first["eventId"] in {i["eventId"]["S"] for i in by_user}
    times = [i["timestamp"]["S"] for i in by_user]
    assert times == sorted(times)
    purchases = items("ByTypeTime", "eventType", "purchase")
    assert purchases and all("value" in i and "insight" in i for i in purchases)
    assert all(i["shardId"]["S"].startswith("shardId-") for i in purchases)


def test_batch_metrics_reach_cloudwatch(pipeline: LocalPipeline, report: StreamReport) -> None:
    cloudwatch = pipeline.client("cloudwatch")
    names = {
        m["MetricName"]
        for page in cloudwatch.get_paginator("list_metrics").paginate(Namespace="Sluice")
        for m in page["Metrics"]
    }
    assert {
        "ProcessedEvents",
        "FailedEvents",
        "ProcessingDuration",
        "SuccessRate",
        "BatchSize",
    } <= names


def test_a_range_that_failed_for_a_passing_reason_is_stored_after_replay(
    pipeline: LocalPipeline, report: StreamReport
) -> None:
    events = sample_events(20, seed=99)
    unlucky = events[7]
    assert unlucky.event_id is not None

    def table_down_for(logical_id: str, event: Any) -> None:
        if logical_id != "ProcessStreamFunction":
            return
        data = [base64.b64decode(r["kinesis"]["data"]) for r in event["Records"]]
        if unlucky.data in data:
            raise ConnectionError("DynamoDB endpoint unreachable")

    dead_before, _ = dead_lettered_data(pipeline)
    pipeline.dispatcher.crash_hook = table_down_for
    try:
        run_stream(pipeline, events, rate=None, timeout=120)
    finally:
        pipeline.dispatcher.crash_hook = None
    stored = stored_event_ids(pipeline)
    assert unlucky.event_id not in stored
    assert {e.event_id for e in events if e is not unlucky} <= stored

    # The cause is gone: replay the new dead-letter ranges (the old ones are malformed data,
    # which fail again and come back as new ranges).
    lines = replay(
        pipeline.client("kinesis"),
        pipeline.client("sqs"),
        pipeline.outputs["EventStreamName"],
        pipeline.outputs["StreamDeadLetterQueueUrl"],
    )
    assert any(line.endswith(": replayed") for line in lines)
    pipeline.wait_for_streams(120)
    assert unlucky.event_id in stored_event_ids(pipeline)
    ranges, data = dead_lettered_data(pipeline)
    assert unlucky.data not in data
    assert ranges == dead_before  # only the malformed records are dead-lettered again


def test_the_sample_event_files_run_through_the_deployed_function(
    pipeline: LocalPipeline, report: StreamReport
) -> None:
    """What `sam local invoke -e events/process_stream_*.json` sends, through the local Lambda."""
    lam = pipeline.client("lambda")
    name = pipeline.resources["ProcessStreamFunction"]
    answers = {}
    for sample in ("process_stream_kinesis.json", "process_stream_malformed.json"):
        payload = (ROOT / "events" / sample).read_bytes()
        answers[sample] = json.loads(
            lam.invoke(FunctionName=name, Payload=payload)["Payload"].read()
        )
    assert answers["process_stream_kinesis.json"] == {"batchItemFailures": []}
    failed = [
        f["itemIdentifier"] for f in answers["process_stream_malformed.json"]["batchItemFailures"]
    ]
    assert len(failed) == 2
