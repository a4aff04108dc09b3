"""ProcessStream's code root and the common layer on sys.path, as Lambda lays them out; an
emulated StreamEventTable with its two indexes; Kinesis records as Lambda delivers them."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from testkit.functions import function_under_test

TABLE = "sluice-stream-events"
SHARD = "shardId-000000000000"
# 2026-11-02T10:41:57.500Z, the arrival of the last record of events/process_stream_kinesis.json
ARRIVAL = 1793616117.5

fresh_handler = function_under_test("process_stream")


def _kinesis_record(
    data: bytes | str | dict[str, Any],
    sequence_number: str = "49590338271490256608559692538361571095921575989136580001",
    *,
    partition_key: str = "u-48213",
    arrival: float = ARRIVAL,
) -> dict[str, Any]:
    if isinstance(data, dict):
        data = json.dumps(data)
    raw = data.encode() if isinstance(data, str) else data
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key,
            "sequenceNumber": sequence_number,
            "data": base64.b64encode(raw).decode(),
            "approximateArrivalTimestamp": arrival,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{SHARD}:{sequence_number}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/sluice-ProcessStreamFunctionRole",
        "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/sluice-stream-events",
    }


@pytest.fixture
def kinesis_record() -> Callable[..., dict[str, Any]]:
    """A Kinesis record as Lambda delivers it: ``kinesis_record(data, sequence_number, *,
    partition_key, arrival)``, ``data`` the event (a dict is JSON-encoded) or raw bytes."""
    return _kinesis_record


@pytest.fixture
def table() -> Iterator[Any]:
    """StreamEventTable in emulated DynamoDB (the client), keyed by eventId, with ByUserTime
    (userId, timestamp) and ByTypeTime (eventType, timestamp)."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            AttributeDefinitions=[
                {"AttributeName": name, "AttributeType": "S"}
                for name in ("eventId", "userId", "eventType", "timestamp")
            ],
            KeySchema=[{"AttributeName": "eventId", "KeyType": "HASH"}],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": index,
                    "KeySchema": [
                        {"AttributeName": partition, "KeyType": "HASH"},
                        {"AttributeName": "timestamp", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
                for index, partition in (("ByUserTime", "userId"), ("ByTypeTime", "eventType"))
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


@pytest.fixture
def emitted_metrics(capsys: pytest.CaptureFixture[str]) -> Callable[[], dict[str, Any]]:
    """The metrics of the last EMF line the handler printed (use with `logs`, which keeps log
    lines off stdout): metric name -> (unit, values)."""

    def read() -> dict[str, Any]:
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
        emf = [line for line in lines if "_aws" in line]
        assert emf, "the handler printed no metrics"
        definitions = emf[-1]["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        return {m["Name"]: (m["Unit"], emf[-1][m["Name"]]) for m in definitions}

    return read
