"""sluice-stream: the producer paces, retries what PutRecords refuses and never drops a record;
replay reads a dead-letter range back from the stream and puts it again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sluice_ops import stream
from sluice_ops.stream import produce, replay, sample_events


def test_sample_events_are_deterministic_with_the_malformed_count_asked_for() -> None:
    first, again = sample_events(200, malformed=7, seed=3), sample_events(200, malformed=7, seed=3)
    assert first == again
    assert sum(1 for e in first if e.event_id is None) == 7
    valid = [json.loads(e.data) for e in first if e.event_id]
    assert len({v["eventId"] for v in valid}) == 193
    assert all("value" in v for v in valid if v["eventType"] == "purchase")


class RefusingKinesis:
    """PutRecords that refuses the first ``refusals`` records it is given (throttled shards)."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.accepted: list[bytes] = []
        self.calls = 0

    def put_records(
        self, StreamName: str, Records: list[dict[str, Any]]
    ) -> dict[str, Any]:  # boto3 names
        self.calls += 1
        results = []
        for record in Records:
            if self.refusals:
                self.refusals -= 1
                results.append({"ErrorCode": "ProvisionedThroughputExceededException"})
            else:
                self.accepted.append(record["Data"])
                results.append({"SequenceNumber": str(len(self.accepted)), "ShardId": "s"})
        failed = sum(1 for r in results if "ErrorCode" in r)
        return {"FailedRecordCount": failed, "Records": results}


def test_refused_records_are_put_again_until_accepted_and_none_is_lost() -> None:
    events = sample_events(1200, seed=5)
    kinesis = RefusingKinesis(refusals=30)
    waits: list[float] = []
    result = produce(kinesis, "events", events, sleep=waits.append)
    assert sorted(kinesis.accepted) == sorted(e.data for e in events)
    assert result.sent == 1200 and result.retried_records == 30
    assert result.calls == 3 + 1  # 500 + 500 + 200, and one retry of the 30 refused
    assert waits and all(0 <= w <= 2.0 for w in waits)


def test_a_record_refused_after_every_attempt_raises_instead_of_being_dropped() -> None:
    kinesis = RefusingKinesis(refusals=10_000)
    with pytest.raises(RuntimeError, match="still refused after 3 PutRecords attempts"):
        produce(kinesis, "events", sample_events(5), sleep=lambda _: None, max_attempts=3)


def test_a_rate_paces_the_puts_in_chunks_of_one_second() -> None:
    kinesis = RefusingKinesis(refusals=0)
    waits: list[float] = []
    result = produce(kinesis, "events", sample_events(250), rate=100, sleep=waits.append)
    assert result.calls == 3  # 100 a second: three chunks
    assert len(waits) == 3 and waits[0] > 0.5  # about a second per chunk


@pytest.fixture
def aws() -> Iterator[tuple[Any, Any, str]]:
    with mock_aws():
        kinesis = boto3.client("kinesis", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        kinesis.create_stream(StreamName="events", ShardCount=1)
        yield kinesis, sqs, sqs.create_queue(QueueName="dlq")["QueueUrl"]


def _dead_letter_range(kinesis: Any, sqs: Any, dlq: str, first: int, last: int) -> list[bytes]:
    shard = kinesis.list_shards(StreamName="events")["Shards"][0]["ShardId"]
    sequence = []
    for n in range(last + 1):
        put = kinesis.put_record(StreamName="events", Data=f"d{n}".encode(), PartitionKey="k")
        sequence.append(put["SequenceNumber"])
    record = {
        "requestContext": {"condition": "RetryAttemptsExhausted"},
        "KinesisBatchInfo": {
            "shardId": shard,
            "startSequenceNumber": sequence[first],
            "endSequenceNumber": sequence[last],
            "batchSize": last - first + 1,
            "streamArn": "arn:aws:kinesis:us-east-1:123456789012:stream/events",
        },
    }
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps(record))
    return [f"d{n}".encode() for n in range(first, last + 1)]


def _all_data(kinesis: Any) -> list[bytes]:
    shard = kinesis.list_shards(StreamName="events")["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(
        StreamName="events", ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    return [r["Data"] for r in kinesis.get_records(ShardIterator=iterator, Limit=1000)["Records"]]


def test_replay_puts_exactly_the_range_again_and_deletes_its_dead_letter(aws: Any) -> None:
    kinesis, sqs, dlq = aws
    expected = _dead_letter_range(kinesis, sqs, dlq, first=2, last=4)
    assert replay(kinesis, sqs, "events", dlq, dry_run=True)[0].endswith("would replay")
    lines = replay(kinesis, sqs, "events", dlq)
    assert len(lines) == 1 and lines[0].endswith(": replayed") and "(3 records" in lines[0]
    assert _all_data(kinesis)[-3:] == expected  # d2, d3, d4 put again, in order
    assert sqs.receive_message(QueueUrl=dlq).get("Messages") is None


def test_a_range_no_longer_in_the_stream_is_left_in_place_with_the_reason(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    kinesis, sqs, dlq = aws
    _dead_letter_range(kinesis, sqs, dlq, first=0, last=2)
    monkeypatch.setattr(stream, "read_range", lambda *_: [])  # past the stream's retention
    [line] = replay(kinesis, sqs, "events", dlq)
    assert "only 0 still in the stream (retention); left in place" in line
    assert sqs.receive_message(QueueUrl=dlq).get("Messages")  # still there, visible


def test_replay_with_an_empty_queue_says_so(aws: Any) -> None:
    kinesis, sqs, dlq = aws
    assert replay(kinesis, sqs, "events", dlq) == [f"no dead-letter ranges in {dlq}"]
