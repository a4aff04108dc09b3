"""The handler with the sample events from events/ (what `sam local invoke -e` sends)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sluice_common.errors import MalformedEvent, NotCsv, ObjectNotFound
from sluice_local.handlers import Handler
from sluice_local.servers.downstream import DownstreamServer

EVENTS = Path(__file__).resolve().parents[3] / "events"
CSV = b'\xef\xbb\xbfid,amount\n1,9.99\n2,"1,000.00"\n'


def use_local_api(api: DownstreamServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The handler pointed at the local API, with short backoffs, and a request timeout the 30 s
    test context has room for (DownstreamTimeoutSeconds' default, 35 s, would postpone every
    object before its first row)."""
    monkeypatch.setenv("DOWNSTREAM_API_URL", api.url)
    monkeypatch.setenv("DOWNSTREAM_BACKOFF_BASE_SECONDS", "0.01")
    monkeypatch.setenv("DOWNSTREAM_TIMEOUT_SECONDS", "5")


def event(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return loaded


@pytest.fixture
def handler(
    fresh_handler: Callable[[], Handler],
    api: DownstreamServer,
    s3: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> Handler:
    use_local_api(api, monkeypatch)
    return fresh_handler()


def put_object_named_in(s3: Any, sample: dict[str, Any]) -> str:
    details = sample.get("s3_details") or sample["detail"]["object"]
    bucket = sample.get("s3_details", {}).get("bucket") or sample["detail"]["bucket"]["name"]
    s3.put_object(Bucket=bucket, Key=details["key"], Body=CSV)
    return str(details["key"])


@pytest.mark.parametrize(
    "name", ["process_object_s3_details.json", "process_object_eventbridge.json"]
)
def test_sample_events_process_the_object_they_name(
    name: str,
    logs: Callable[[], list[dict[str, Any]]],
    emitted_metrics: Callable[[], dict[str, Any]],
    handler: Handler,
    s3: Any,
    api: DownstreamServer,
    lambda_context: Any,
) -> None:
    sample = event(name)
    key = put_object_named_in(s3, sample)
    summary = handler(sample, lambda_context)

    assert summary["key"] == key
    assert (summary["rows_read"], summary["rows_sent"], summary["rows_failed"]) == (2, 2, 0)
    assert summary["postponed"] is False
    assert [r.body["data"] for r in api.requests] == [
        {"id": "1", "amount": "9.99"},
        {"id": "2", "amount": "1,000.00"},
    ]
    done = next(line for line in logs() if line.get("message") == "object processed")
    assert done["s3_key"] == key
    assert done["dt.metrics"]["sluice.rows_sent"] == 2
    emf = emitted_metrics()
    assert emf["RowsSent"] == [2.0] and emf["ObjectsProcessed"] == [1.0]


def test_correlation_ids_from_the_drain_label_every_log_line(
    handler: Handler,
    s3: Any,
    lambda_context: Any,
    logs: Callable[[], list[dict[str, Any]]],
) -> None:
    sample = event("process_object_s3_details.json")
    put_object_named_in(s3, sample)
    handler(sample, lambda_context)
    lines = logs()
    assert lines
    assert {line["message_id"] for line in lines} == {sample["correlation"]["message_id"]}
    assert {line["execution"] for line in lines} == {"sam-local-invoke"}


def test_an_invocation_that_begins_after_start_by_returns_postponed_without_reading(
    handler: Handler,
    api: DownstreamServer,
    lambda_context: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import time

    # The object is not even stored: S3 is never asked. A normal answer, not an error (which
    # would count in the function's Errors alarm).
    late = {**event("process_object_s3_details.json"), "start_by": time.time() - 1}
    summary = handler(late, lambda_context)

    assert summary["postponed"] is True
    assert summary["key"] == late["s3_details"]["key"]
    counts = ("rows_read", "rows_sent", "rows_failed", "retries", "duration_ms", "requests")
    assert [summary[name] for name in counts] == [0] * len(counts)
    assert summary["failed_rows"] == []
    assert api.requests == []
    emf = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert emf["ObjectsPostponed"] == [1.0]


@pytest.mark.parametrize("start_by", ["future", None, "not a time", True])
def test_an_invocation_in_time_or_without_a_readable_start_by_processes_the_object(
    start_by: Any, handler: Handler, s3: Any, lambda_context: Any
) -> None:
    import time

    sample = event("process_object_s3_details.json")
    put_object_named_in(s3, sample)
    sample["start_by"] = time.time() + 60 if start_by == "future" else start_by
    summary = handler(sample, lambda_context)
    assert summary["postponed"] is False and summary["rows_sent"] == 2


def test_the_failing_sample_raises_object_not_found_with_the_key(
    handler: Handler,
    lambda_context: Any,
    capsys: pytest.CaptureFixture[str],
    logs: Callable[[], list[dict[str, Any]]],
) -> None:
    with pytest.raises(ObjectNotFound) as raised:
        handler(event("process_object_missing_object.json"), lambda_context)
    assert "incoming/deleted-before-processing.csv was deleted" in str(raised.value)
    warning = next(line for line in logs() if line.get("message") == "object not processed")
    assert warning["error"] == "ObjectNotFound"
    assert warning["reason"] == str(raised.value)
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["ObjectsFailed"] == [1.0]


@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        ([], MalformedEvent, "event must be a JSON object, got list"),
        ({}, MalformedEvent, "event is neither"),
        ({"s3_details": "k.csv"}, MalformedEvent, "s3_details must be an object"),
        ({"s3_details": {"bucket": "b"}}, MalformedEvent, "s3_details.key is missing"),
        (
            {"source": "aws.s3", "detail-type": "Object Deleted", "detail": {}},
            MalformedEvent,
            "expected an aws.s3 'Object Created' event",
        ),
        ({"s3_details": {"bucket": "b", "key": "folder/"}}, NotCsv, "is a folder marker"),
    ],
)
def test_malformed_events_raise_a_clear_typed_error(
    bad: Any, error: type[Exception], message: str, handler: Handler, lambda_context: Any
) -> None:
    with pytest.raises(error, match=message.replace("(", r"\(")):
        handler(bad, lambda_context)


def test_without_a_url_the_simulated_api_is_used(
    fresh_handler: Callable[[], Handler],
    s3: Any,
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOWNSTREAM_API_URL", "")
    monkeypatch.setenv("SIMULATED_LATENCY_MS", "1")
    sample = event("process_object_s3_details.json")
    put_object_named_in(s3, sample)
    assert fresh_handler()(sample, lambda_context)["rows_sent"] == 2


def test_the_rate_limit_is_shared_out_by_max_concurrency(
    fresh_handler: Callable[[], Handler], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setenv("DOWNSTREAM_API_URL", "http://127.0.0.1:9/rows")
    monkeypatch.setenv("DOWNSTREAM_RATE_LIMIT_PER_SECOND", "30")
    monkeypatch.setenv("MAX_CONCURRENCY", "3")
    app = sys.modules[fresh_handler().__module__]  # the handler's own module instance
    paced = app.downstream()
    assert type(paced).__name__ == "PacedDownstream"
    assert paced.interval == pytest.approx(0.1)  # 30 / 3 per second for this instance


@pytest.fixture
def stored_sample(
    api: DownstreamServer, s3: Any, checkpoint_table: str, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """The s3_details sample, its object stored, the handler pointed at the local API and the
    checkpoint table."""
    use_local_api(api, monkeypatch)
    monkeypatch.setenv("CHECKPOINT_TABLE", checkpoint_table)
    sample = event("process_object_s3_details.json")
    put_object_named_in(s3, sample)
    return sample


@pytest.fixture
def invoke(
    fresh_handler: Callable[[], Handler], stored_sample: dict[str, Any], lambda_context: Any
) -> Callable[[], dict[str, Any]]:
    """One invocation on the stored sample, in a new container each time."""
    return lambda: fresh_handler()(stored_sample, lambda_context)


def checkpoints(table: str) -> list[dict[str, Any]]:
    import boto3

    items: list[dict[str, Any]] = boto3.client("dynamodb", region_name="us-east-1").scan(
        TableName=table
    )["Items"]
    return items


def test_with_the_checkpoint_table_a_repeat_invocation_sends_nothing_again(
    invoke: Callable[[], dict[str, Any]], api: DownstreamServer, checkpoint_table: str
) -> None:
    first = invoke()
    again = invoke()  # another container, the same revision
    assert (first["rows_sent"], first["unfinished"], first["postponed"]) == (2, False, False)
    assert (again["rows_sent"], again["unfinished"], again["postponed"]) == (0, False, False)
    assert len(api.requests) == 2
    [item] = checkpoints(checkpoint_table)  # one item for the object revision, not per row
    assert item["done"] == {"BOOL": True} and item["row"] == {"N": "2"}
    assert "owner" not in item and float(item["ttl"]["N"]) > time.time() + 29 * 86400


def test_an_object_another_invocation_holds_is_busy_with_a_reason(
    invoke: Callable[[], dict[str, Any]], api: DownstreamServer, checkpoint_table: str
) -> None:
    import boto3

    sent = invoke()["rows_sent"]
    # As an invocation still running leaves it: its lease until its own deadline.
    [item] = checkpoints(checkpoint_table)
    boto3.client("dynamodb", region_name="us-east-1").update_item(
        TableName=checkpoint_table,
        Key={"object": item["object"]},
        UpdateExpression="SET #owner = :other, leaseUntil = :until, done = :false",
        ExpressionAttributeNames={"#owner": "owner"},
        ExpressionAttributeValues={
            ":other": {"S": "another-request"},
            ":until": {"N": str(time.time() + 60)},
            ":false": {"BOOL": False},
        },
    )
    with pytest.raises(Exception) as raised:
        invoke()
    assert type(raised.value).__name__ == "ObjectBusy"
    assert "another invocation is processing this object revision" in str(raised.value)
    assert len(api.requests) == sent  # nothing sent twice


def test_an_invocation_short_of_time_returns_unfinished_and_the_next_one_finishes(
    fresh_handler: Callable[[], Handler],
    api: DownstreamServer,
    s3: Any,
    stored_sample: dict[str, Any],
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    logs: Callable[[], list[dict[str, Any]]],
) -> None:
    from sluice_local.emulator.context import LambdaContext

    sample = stored_sample
    rows = b"".join(b"%d,%d.00\n" % (n, n) for n in range(1, 21))
    s3.put_object(Bucket="sluice-demo-bucket", Key=sample["s3_details"]["key"], Body=CSV + rows)
    api.configure(latency_s=0.05)
    monkeypatch.setenv("DOWNSTREAM_TIMEOUT_SECONDS", "0.3")
    handler = fresh_handler()
    # 1.5 s left: 0.5 s after the stop margin, so rows start while 0.3 s still fits.
    short = handler(sample, LambdaContext(function_name="test-function", timeout_seconds=1.5))

    assert (short["unfinished"], short["postponed"]) == (True, True)
    assert short["rows_sent"] < 22 and short["next_row"] == short["rows_sent"] + 1
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["ObjectsContinued"] == [1.0]
    assert any(line.get("message", "").startswith("object unfinished") for line in logs())

    rest = handler(sample, lambda_context)
    assert (rest["unfinished"], rest["postponed"]) == (False, False)
    assert short["rows_sent"] + rest["rows_sent"] == 22
    assert [r.body["row"] for r in api.requests] == list(range(1, 23))  # each row once


def test_rows_the_pre_upgrade_idempotency_table_recorded_are_not_sent_again(
    invoke: Callable[[], dict[str, Any]],
    api: DownstreamServer,
    s3: Any,
    stored_sample: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import hashlib

    import boto3

    sample = stored_sample
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    dynamodb.create_table(
        TableName="IdempotencyTable",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    key = sample["s3_details"]["key"]
    etag = s3.head_object(Bucket="sluice-demo-bucket", Key=key)["ETag"].strip('"')
    revision = hashlib.sha256(f"sluice-demo-bucket/{key}/{etag}".encode()).hexdigest()
    row_1 = json.dumps(f"{revision}-1")  # Powertools hashes the JSON of the key
    dynamodb.put_item(  # a record as Powertools Idempotency wrote it for row 1
        TableName="IdempotencyTable",
        Item={
            "id": {"S": "sluice-row#" + hashlib.md5(row_1.encode()).hexdigest()},
            "status": {"S": "COMPLETED"},
            "expiration": {"N": str(int(time.time()) + 86400)},
        },
    )
    monkeypatch.setenv("LEGACY_IDEMPOTENCY_TABLE", "IdempotencyTable")
    summary = invoke()
    assert (summary["rows_sent"], summary["rows_skipped"]) == (1, 1)
    assert [r.body["row"] for r in api.requests] == [2]
