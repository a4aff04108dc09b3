"""The handler with the sample events from events/ (what `sam local invoke -e` sends) against
an emulated StreamEventTable: good records are written once, bad or unwritten ones are
reported by sequence number, and the batch is measured."""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from sluice_common.errors import MalformedEvent
from sluice_local.handlers import Handler
from stream_events import prepare_record
from testkit.step_runs import StepRun

TABLE = "sluice-stream-events"
Event = dict[str, Any]
Record = Callable[..., dict[str, Any]]
SAMPLE = "process_stream_kinesis.json"
MALFORMED = "process_stream_malformed.json"
SEQUENCE = "4959033827149025660855969253836157109592157598913658"  # + 4 digits in the samples


@pytest.fixture
def handler(
    fresh_handler: Callable[[], Handler], table: Any, monkeypatch: pytest.MonkeyPatch
) -> Handler:
    monkeypatch.setenv("STREAM_EVENT_TABLE", TABLE)
    monkeypatch.delenv("WRITE_MAX_ATTEMPTS", raising=False)
    monkeypatch.delenv("WRITE_BASE_DELAY_MS", raising=False)
    return fresh_handler()


@pytest.fixture
def run(handler: Handler, request: pytest.FixtureRequest) -> StepRun:
    return StepRun.of(request, handler)


def module_of(handler: Handler) -> dict[str, Any]:
    """The globals of the handler's app module (under Powertools' decorators)."""
    return inspect.unwrap(handler).__globals__


@pytest.fixture
def puts(handler: Handler) -> Iterator[list[list[str]]]:
    """The eventIds of every BatchWriteItem call the handler's own client makes."""
    calls: list[list[str]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        requests = params["RequestItems"][TABLE]
        calls.append([r["PutRequest"]["Item"]["eventId"]["S"] for r in requests])

    client = module_of(handler)["dynamodb"]()
    client.meta.events.register("before-parameter-build.dynamodb.BatchWriteItem", record)
    yield calls
    client.meta.events.unregister("before-parameter-build.dynamodb.BatchWriteItem", record)


def stored(table: Any) -> dict[str, dict[str, Any]]:
    """The table's items by eventId, as Python values (numbers as Decimal)."""
    items = table.scan(TableName=TABLE, ConsistentRead=True)["Items"]
    return {
        i["eventId"]["S"]: {k: TypeDeserializer().deserialize(v) for k, v in i.items()}
        for i in items
    }


def expected(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The items the records should become, as Python values."""
    items = (prepare_record(record).item for record in records)
    return {
        i["eventId"]["S"]: {k: TypeDeserializer().deserialize(v) for k, v in i.items()}
        for i in items
    }


def found(
    table: Any, index: str, condition: str, values: tuple[str, ...], extra: Any = None
) -> list[dict[str, Any]]:
    """The items an index query finds; the condition's placeholders take ``values`` in order."""
    names = [word for word in condition.split() if word.startswith(":")]
    bound = {name: {"S": value} for name, value in zip(names, values, strict=True)}
    query = {
        "KeyConditionExpression": condition,
        "ExpressionAttributeValues": bound,
        **(extra or {}),
    }
    items: list[dict[str, Any]] = table.query(TableName=TABLE, IndexName=index, **query)["Items"]
    return items


def sequence(record: dict[str, Any]) -> str:
    return str(record["kinesis"]["sequenceNumber"])


def outcome(run: StepRun) -> tuple[Any, Any, Any]:
    """The batch's ProcessedEvents, FailedEvents and SuccessRate metrics (unit, values)."""
    metrics = run.metrics()
    return metrics["ProcessedEvents"], metrics["FailedEvents"], metrics["SuccessRate"]


def renumbered(record: dict[str, Any], sequence_number: str) -> dict[str, Any]:
    """``record`` as if it had been put at ``sequence_number``."""
    shard = record["eventID"].partition(":")[0]
    kinesis = {**record["kinesis"], "sequenceNumber": sequence_number}
    return {**record, "kinesis": kinesis, "eventID": f"{shard}:{sequence_number}"}


def test_the_sample_batch_is_written_and_reported_as_a_full_success(
    run: StepRun, table: Any, puts: list[list[str]]
) -> None:
    batch = run.sample(SAMPLE)
    assert run(batch) == {"batchItemFailures": []}

    assert stored(table) == expected(batch["Records"])
    assert puts == [["evt-20261102-0001", "evt-20261102-0002", "evt-20261102-0003"]]
    metrics = run.metrics()
    assert metrics.pop("ProcessingDuration")[0] == "Milliseconds"
    assert metrics == {
        "BatchSize": ("Count", [3.0]),
        "ProcessedEvents": ("Count", [3.0]),
        "FailedEvents": ("Count", [0.0]),
        "SuccessRate": ("Percent", [100.0]),
    }
    [done] = run.logged("stream batch processed")
    assert (done["shard_id"], done["first_sequence_number"], done["last_sequence_number"]) == (
        "shardId-000000000000",
        SEQUENCE + "8890",
        SEQUENCE + "8892",
    )
    assert (done["write_calls"], done["rejected"], done["unwritten"]) == (1, 0, 0)


def test_the_written_items_are_found_through_both_indexes(run: StepRun, table: Any) -> None:
    run(run.sample(SAMPLE))

    since = {"ExpressionAttributeNames": {"#t": "timestamp"}}  # a reserved word
    by_user = found(
        table, "ByUserTime", "userId = :u AND #t >= :s", ("u-48213", "2026-11-02"), since
    )
    by_type = found(table, "ByTypeTime", "eventType = :e", ("purchase",))
    assert [i["eventId"]["S"] for i in by_user] == [
        "evt-20261102-0001",
        "evt-20261102-0002",
        "evt-20261102-0003",
    ]
    assert [(i["eventId"]["S"], i["insight"]["S"]) for i in by_type] == [
        ("evt-20261102-0003", "high_value_purchase")
    ]


def test_the_malformed_sample_reports_its_two_bad_records_and_writes_the_two_good_ones(
    run: StepRun, table: Any
) -> None:
    batch = run.sample(MALFORMED)
    good = [batch["Records"][0], batch["Records"][2]]

    assert run(batch) == {
        "batchItemFailures": [
            {"itemIdentifier": SEQUENCE + "8901"},
            {"itemIdentifier": SEQUENCE + "8903"},
        ]
    }
    assert stored(table) == expected(good)
    rejected = run.logged("stream record rejected")
    assert (
        [(r["sequence_number"], r["partition_key_hash"], r["reason"]) for r in rejected]
        == [
            (
                SEQUENCE + "8901",
                "sha256:" + hashlib.sha256(b"u-10077").hexdigest()[:16],
                "data is not JSON: Expecting property name enclosed in double quotes at line 1 "
                'column 71 (data starts \'{"eventId":"evt-****\')',  # evt-20261102-0101: 12 digits
            ),
            (
                SEQUENCE + "8903",
                "sha256:" + hashlib.sha256(b"u-30555").hexdigest()[:16],
                "value is missing; a purchase needs its value, a decimal above 0 such as '49.90'",
            ),
        ]
    )
    assert {(r["level"], r["error"], r["shard_id"]) for r in rejected} == {
        ("WARNING", "InvalidStreamEvent", "shardId-000000000000")
    }
    assert not any("u-10077" in json.dumps(line) for line in run.logs())  # the key is not logged
    assert outcome(run) == (
        ("Count", [2.0]),
        ("Count", [2.0]),
        ("Percent", [50.0]),
    )


def test_one_bad_record_is_the_only_failure_and_the_good_ones_are_written_once(
    run: StepRun, table: Any, puts: list[list[str]], kinesis_record: Record
) -> None:
    first, second, third = (
        renumbered(record, SEQUENCE + number)
        for record, number in zip(
            run.sample(SAMPLE)["Records"], ("9101", "9103", "9104"), strict=True
        )
    )
    bad = kinesis_record(b"not json", SEQUENCE + "9102")
    output = run({"Records": [first, bad, second, third]})

    assert output == {"batchItemFailures": [{"itemIdentifier": sequence(bad)}]}
    assert puts == [["evt-20261102-0001", "evt-20261102-0002", "evt-20261102-0003"]]
    assert stored(table) == expected([first, second, third])


def test_when_every_record_is_bad_all_are_reported_and_nothing_raised(
    run: StepRun, table: Any, puts: list[list[str]], kinesis_record: Record
) -> None:
    records = [
        kinesis_record(b"\x00\x01", SEQUENCE + "9001"),
        kinesis_record({"eventId": "e-1"}, SEQUENCE + "9002"),
        kinesis_record(b"[]", SEQUENCE + "9003"),
    ]
    output = run({"Records": records})

    # Powertools would raise BatchProcessingError; Lambda needs the sequence numbers instead.
    assert output == {"batchItemFailures": [{"itemIdentifier": sequence(r)} for r in records]}
    assert puts == [] and stored(table) == {}
    assert len(run.logged("stream record rejected")) == 3
    assert outcome(run) == (
        ("Count", [0.0]),
        ("Count", [3.0]),
        ("Percent", [0.0]),
    )


class LeavesOver:
    """A DynamoDB client that never writes the items of ``event_ids`` (UnprocessedItems)."""

    def __init__(self, *event_ids: str) -> None:
        self.event_ids = set(event_ids)
        self.calls = 0

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        left = [
            request
            for request in RequestItems[TABLE]
            if request["PutRequest"]["Item"]["eventId"]["S"] in self.event_ids
        ]
        return {"UnprocessedItems": {TABLE: left} if left else {}}


def test_a_record_whose_item_stays_unwritten_is_reported(
    run: StepRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WRITE_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("WRITE_BASE_DELAY_MS", "0")
    dynamodb = LeavesOver("evt-20261102-0002")
    monkeypatch.setitem(module_of(run.handler), "dynamodb", lambda: dynamodb)

    output = run(run.sample(SAMPLE))

    assert output == {"batchItemFailures": [{"itemIdentifier": SEQUENCE + "8891"}]}
    assert dynamodb.calls == 3
    [warning] = run.logged("stream items not written")
    assert (warning["unwritten"], warning["last_error"], warning["attempts"]) == (
        1,
        "UnprocessedItems",
        3,
    )
    processed, failed, rate = outcome(run)
    assert (processed, failed) == (("Count", [2.0]), ("Count", [1.0]))
    assert rate[1] == [pytest.approx(200 / 3)]


def test_a_redelivered_batch_leaves_the_table_as_it_was(run: StepRun, table: Any) -> None:
    run(run.sample(SAMPLE))
    first = stored(table)
    assert run(run.sample(SAMPLE)) == {"batchItemFailures": []}
    assert stored(table) == first and len(first) == 3


def test_an_event_sent_twice_in_one_batch_is_one_put_of_the_later_record(
    run: StepRun, table: Any, puts: list[list[str]], kinesis_record: Record
) -> None:
    original = run.sample(SAMPLE)["Records"][0]
    resent = kinesis_record(
        {
            "eventId": "evt-20261102-0001",
            "userId": "u-48213",
            "eventType": "page_view",
            "timestamp": "2026-11-02T10:41:52.104Z",
        },
        SEQUENCE + "8899",
    )
    assert run({"Records": [original, resent]}) == {"batchItemFailures": []}
    assert puts == [["evt-20261102-0001"]]
    assert stored(table)["evt-20261102-0001"]["sequenceNumber"] == SEQUENCE + "8899"


def test_an_error_that_is_not_load_fails_the_whole_invocation(
    run: StepRun, fresh_handler: Callable[[], Handler], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAM_EVENT_TABLE", "no-such-table")
    with pytest.raises(ClientError) as caught:
        fresh_handler()(run.sample(SAMPLE), run.context)  # a cold start reads the table name
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"
    [error] = run.logged("stream batch not written")
    assert (error["level"], error["error"], error["items"]) == (
        "ERROR",
        "ResourceNotFoundException",
        3,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "invalid configuration: STREAM_EVENT_TABLE is not set"),
        (
            {"STREAM_EVENT_TABLE": TABLE, "WRITE_MAX_ATTEMPTS": "zero"},
            "invalid configuration: WRITE_MAX_ATTEMPTS='zero' is not a whole number",
        ),
        (
            {"STREAM_EVENT_TABLE": TABLE, "WRITE_MAX_ATTEMPTS": "0"},
            "invalid configuration: WRITE_MAX_ATTEMPTS='0' is below the minimum 1",
        ),
        (
            {"STREAM_EVENT_TABLE": TABLE, "WRITE_BASE_DELAY_MS": "5000"},
            "invalid configuration: WRITE_BASE_DELAY_MS='5000' is above the maximum 1000",
        ),
    ],
)
def test_a_misconfigured_function_fails_before_reading_any_record(
    run: StepRun,
    fresh_handler: Callable[[], Handler],
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    message: str,
) -> None:
    for name in ("STREAM_EVENT_TABLE", "WRITE_MAX_ATTEMPTS", "WRITE_BASE_DELAY_MS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(Exception) as caught:
        fresh_handler()(run.sample(SAMPLE), run.context)
    assert (type(caught.value).__name__, str(caught.value)) == ("StreamConfigurationError", message)


def test_an_event_that_is_not_from_kinesis_is_malformed(run: StepRun) -> None:
    with pytest.raises(MalformedEvent, match=r"^event has no Records list"):
        run({"detail": {}})
