"""The local Kinesis event source mapping (sluice_local.sources.streams) against moto's Kinesis,
with a scripted function: partial batch responses, bisection, retries and the on-failure record
behave as Lambda documents them, so the e2e tests of the stream pipeline mean what they say."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sluice_local.sources.streams import StreamMappingConfig, StreamMappingRunner

Respond = Callable[[list[dict[str, Any]]], tuple[dict[str, Any] | None, bool]]


class ScriptedFunction:
    """Stands in for boto3's Lambda client: answers each batch with ``respond(records)``."""

    def __init__(self, respond: Respond) -> None:
        self.respond = respond
        self.batches: list[list[str]] = []  # the records' data, per invocation

    def invoke(self, FunctionName: str, Payload: bytes) -> dict[str, Any]:  # boto3 names
        records = json.loads(Payload)["Records"]
        self.batches.append([_data(r) for r in records])
        body, errored = self.respond(records)
        response: dict[str, Any] = {"Payload": io.BytesIO(json.dumps(body).encode())}
        if errored:
            response["FunctionError"] = "Unhandled"
        return response


def _data(record: dict[str, Any]) -> str:
    import base64

    return base64.b64decode(record["kinesis"]["data"]).decode()


@pytest.fixture
def aws() -> Iterator[tuple[Any, Any, str, str]]:
    with mock_aws():
        kinesis = boto3.client("kinesis", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        kinesis.create_stream(StreamName="events", ShardCount=1)
        arn = kinesis.describe_stream(StreamName="events")["StreamDescription"]["StreamARN"]
        dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
        yield kinesis, sqs, arn, dlq


def _run(
    aws: tuple[Any, Any, str, str], function: ScriptedFunction, data: list[str], **config: Any
) -> tuple[StreamMappingRunner, list[dict[str, Any]]]:
    kinesis, sqs, arn, dlq = aws
    settings: dict[str, Any] = {
        "logical_id": "Mapping",
        "function_name": "fn",
        "function_arn": "arn:aws:lambda:us-east-1:123456789012:function:fn",
        "stream_name": "events",
        "stream_arn": arn,
        "batch_size": 10,
        "batching_window_s": 0.0,
        "starting_position": "TRIM_HORIZON",
        "bisect": False,
        "max_retries": 2,
        "max_record_age_s": -1,
        "report_failures": True,
        "on_failure_queue_url": dlq,
        "region": "us-east-1",
        **config,
    }
    for item in data:
        kinesis.put_record(StreamName="events", Data=item.encode(), PartitionKey="p")
    stop = threading.Event()
    runner = StreamMappingRunner(StreamMappingConfig(**settings), kinesis, function, sqs, stop)
    runner.start()
    deadline = time.monotonic() + 20
    time.sleep(0.1)
    while not runner.caught_up:
        assert time.monotonic() < deadline, "the mapping never caught up"
        time.sleep(0.02)
    stop.set()
    runner.join(5)
    messages = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
        "Messages", []
    )
    return runner, [json.loads(m["Body"]) for m in messages]


def _fail(*bad: str) -> Respond:
    def respond(records: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, bool]:
        failures = [
            {"itemIdentifier": r["kinesis"]["sequenceNumber"]} for r in records if _data(r) in bad
        ]
        return {"batchItemFailures": failures}, False

    return respond


def test_a_full_success_is_one_invocation_per_batch(aws: Any) -> None:
    function = ScriptedFunction(_fail())
    runner, dead = _run(aws, function, [f"r{n}" for n in range(25)])
    assert [len(b) for b in function.batches] == [10, 10, 5] and dead == []
    assert runner.stats.retries == 0


def test_a_reported_failure_retries_from_it_and_never_resends_the_records_before_it(
    aws: Any,
) -> None:
    function = ScriptedFunction(_fail("r3"))
    _, dead = _run(aws, function, [f"r{n}" for n in range(6)], max_retries=2)
    first, *retries = function.batches
    assert first == ["r0", "r1", "r2", "r3", "r4", "r5"]
    assert retries == [["r3", "r4", "r5"]] * 2  # r0..r2 are checkpointed: never sent again
    [record] = dead
    info = record["KinesisBatchInfo"]
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert info["batchSize"] == 3 and info["shardId"] == "shardId-000000000000"
    assert int(info["startSequenceNumber"]) < int(info["endSequenceNumber"])


def test_with_bisection_the_bad_record_ends_alone_in_the_dead_letter_range(aws: Any) -> None:
    function = ScriptedFunction(_fail("r3"))
    runner, dead = _run(aws, function, [f"r{n}" for n in range(6)], max_retries=1, bisect=True)
    [record] = dead
    assert record["KinesisBatchInfo"]["batchSize"] == 1
    assert runner.stats.bisections >= 1
    # After the retries the remainder r3..r5 is split: r3 alone fails into the dead-letter
    # range, r4 and r5 (after it in the shard, so not checkpointed yet) go through.
    assert function.batches[-2:] == [["r3"], ["r4", "r5"]]


def test_a_function_error_bisects_until_the_failing_record_is_alone(aws: Any) -> None:
    def crash_on_r2(records: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, bool]:
        return None, any(_data(r) == "r2" for r in records)

    function = ScriptedFunction(crash_on_r2)
    _, dead = _run(aws, function, [f"r{n}" for n in range(4)], max_retries=1, bisect=True)
    [record] = dead
    assert record["KinesisBatchInfo"]["batchSize"] == 1
    delivered = {d for batch in function.batches for d in batch}
    assert delivered == {"r0", "r1", "r2", "r3"}
    assert ["r2"] in function.batches


def test_an_identifier_outside_the_batch_fails_the_whole_batch(aws: Any) -> None:
    def nonsense(records: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, bool]:
        return {"batchItemFailures": [{"itemIdentifier": "not-a-sequence-number"}]}, False

    function = ScriptedFunction(nonsense)
    _, dead = _run(aws, function, ["a", "b"], max_retries=1)
    assert function.batches == [["a", "b"], ["a", "b"]]
    assert dead[0]["KinesisBatchInfo"]["batchSize"] == 2
