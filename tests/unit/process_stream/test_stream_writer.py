"""Items go to DynamoDB 25 a call, never two puts of one key in a call; what DynamoDB leaves
over or throttles is retried with capped, jittered backoff, and what is still unwritten after
the attempts is returned, not raised."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from hypothesis import given
from hypothesis import strategies as st

from stream_writer import (
    MAX_BATCH_ITEMS,
    UNPROCESSED,
    WriteSettings,
    write_items,
)

TABLE = "sluice-stream-events"
SETTINGS = WriteSettings(table=TABLE, max_attempts=5, base_delay_s=0.05, max_delay_s=1.0)
Item = dict[str, Any]


def item(event_id: str, version: int = 1) -> Item:
    return {"eventId": {"S": event_id}, "userId": {"S": "u-1"}, "version": {"N": str(version)}}


def items(count: int) -> list[Item]:
    return [item(f"evt-{n:04d}") for n in range(count)]


def client_error(code: str, status: int = 400) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": f"{code} (test)"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "BatchWriteItem",
    )


class FakeDynamoDB:
    """batch_write_item against a dict; ``answer(call, keys)`` may raise, or return the keys of
    the call that DynamoDB leaves unprocessed (default: none)."""

    def __init__(self, answer: Callable[[int, list[str]], list[str]] | None = None) -> None:
        self.answer = answer or (lambda call, keys: [])
        self.calls: list[list[str]] = []
        self.table: dict[str, Item] = {}

    def batch_write_item(self, RequestItems: dict[str, list[Item]]) -> dict[str, Any]:
        assert list(RequestItems) == [TABLE]
        requests = RequestItems[TABLE]
        keys = [request["PutRequest"]["Item"]["eventId"]["S"] for request in requests]
        assert len(requests) <= MAX_BATCH_ITEMS, "DynamoDB refuses more than 25 requests"
        assert len(set(keys)) == len(keys), "DynamoDB refuses two puts of one key in a call"
        self.calls.append(keys)
        left = set(self.answer(len(self.calls), keys))
        for request, key in zip(requests, keys, strict=True):
            if key not in left:
                self.table[key] = request["PutRequest"]["Item"]
        unprocessed = [request for request, key in zip(requests, keys, strict=True) if key in left]
        return {"UnprocessedItems": {TABLE: unprocessed} if unprocessed else {}}


class MaxRandom(random.Random):
    """Jitter that always draws the ceiling: the backoff's upper bound, observable."""

    def uniform(self, a: float, b: float) -> float:
        return b


@pytest.mark.parametrize("count", [1, 24, 25, 26, 50, 51, 100, 500])
def test_items_are_written_25_a_call(count: int, sleeps: list[float]) -> None:
    dynamodb = FakeDynamoDB()
    result = write_items(dynamodb, SETTINGS, items(count), sleep=sleeps)

    assert result.calls == len(dynamodb.calls) == math.ceil(count / 25)
    assert [len(keys) for keys in dynamodb.calls[:-1]] == [25] * (result.calls - 1)
    assert sorted(dynamodb.table) == sorted(i["eventId"]["S"] for i in items(count))
    assert (result.items, result.written, result.unwritten, result.attempts) == (
        count,
        count,
        frozenset(),
        1,
    )
    assert sleeps == []


def test_no_items_make_no_call() -> None:
    dynamodb = FakeDynamoDB()
    result = write_items(dynamodb, SETTINGS, [])
    assert (result.calls, result.attempts, result.items, dynamodb.calls) == (0, 0, 0, [])


def test_duplicate_event_ids_are_written_once_with_the_last_item(sleeps: list[float]) -> None:
    dynamodb = FakeDynamoDB()
    given_items = [item("evt-a", 1), item("evt-b"), item("evt-a", 2), item("evt-a", 3)]
    result = write_items(dynamodb, SETTINGS, given_items, sleep=sleeps)

    assert dynamodb.calls == [["evt-a", "evt-b"]]
    assert dynamodb.table["evt-a"]["version"] == {"N": "3"}
    assert (result.items, result.written, result.calls) == (2, 2, 1)


@given(st.lists(st.integers(0, 60), max_size=200))
def test_any_mix_of_repeated_ids_is_one_put_per_id_in_the_fewest_calls(ids: list[int]) -> None:
    dynamodb = FakeDynamoDB()
    versions = [item(f"evt-{n}", version) for version, n in enumerate(ids)]
    result = write_items(dynamodb, SETTINGS, versions, sleep=lambda _: None)

    distinct = set(ids)
    assert result.calls == math.ceil(len(distinct) / 25)
    assert sorted(key for keys in dynamodb.calls for key in keys) == sorted(
        f"evt-{n}" for n in distinct
    )
    last = {f"evt-{n}": version for version, n in enumerate(ids)}
    assert {key: int(i["version"]["N"]) for key, i in dynamodb.table.items()} == last


def test_unprocessed_items_are_retried_after_a_backoff_then_written(sleeps: list[float]) -> None:
    def answer(call: int, keys: list[str]) -> list[str]:
        return keys[-3:] if call == 1 else []

    dynamodb = FakeDynamoDB(answer)
    result = write_items(dynamodb, SETTINGS, items(10), sleep=sleeps, rng=random.Random(7))

    assert dynamodb.calls[1] == ["evt-0007", "evt-0008", "evt-0009"]
    assert (result.calls, result.attempts, result.unwritten) == (2, 2, frozenset())
    assert len(dynamodb.table) == 10 and result.last_error is None
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= SETTINGS.base_delay_s


def test_left_over_items_of_several_calls_are_retried_together(sleeps: list[float]) -> None:
    def answer(call: int, keys: list[str]) -> list[str]:
        return keys[:10] if call <= 2 else []  # 10 left over by each of the two first calls

    dynamodb = FakeDynamoDB(answer)
    result = write_items(dynamodb, SETTINGS, items(50), sleep=sleeps)

    assert [len(keys) for keys in dynamodb.calls] == [25, 25, 20]
    assert (result.calls, result.attempts, result.written) == (3, 2, 50)


def test_items_still_unprocessed_after_the_attempts_are_returned(sleeps: list[float]) -> None:
    stuck = {"evt-0003", "evt-0031"}
    dynamodb = FakeDynamoDB(lambda call, keys: [k for k in keys if k in stuck])
    settings = WriteSettings(table=TABLE, max_attempts=4, base_delay_s=0.05)
    result = write_items(dynamodb, settings, items(40), sleep=sleeps)

    assert result.unwritten == stuck
    assert (result.attempts, result.written, result.last_error) == (4, 38, UNPROCESSED)
    assert dynamodb.calls[2:] == [sorted(stuck)] * 3  # after the first round's two calls
    assert len(sleeps) == 3  # between rounds, none after the last


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ProvisionedThroughputExceededException", 400),
        ("ThrottlingException", 400),
        ("RequestLimitExceeded", 400),
        ("InternalServerError", 500),
        ("ServiceUnavailable", 503),
    ],
)
def test_a_throttled_or_5xx_call_is_retried(code: str, status: int, sleeps: list[float]) -> None:
    def answer(call: int, keys: list[str]) -> list[str]:
        if call == 1:
            raise client_error(code, status)
        return []

    dynamodb = FakeDynamoDB(answer)
    result = write_items(dynamodb, SETTINGS, items(30), sleep=sleeps)

    assert [len(keys) for keys in dynamodb.calls] == [25, 5, 25]
    assert (result.retried_calls, result.written, result.unwritten) == (1, 30, frozenset())


def test_a_call_throttled_every_time_leaves_its_items_unwritten_with_the_reason(
    sleeps: list[float],
) -> None:
    def answer(call: int, keys: list[str]) -> list[str]:
        if "evt-0000" in keys:
            raise client_error("ProvisionedThroughputExceededException")
        return []

    dynamodb = FakeDynamoDB(answer)
    result = write_items(dynamodb, SETTINGS, items(30), sleep=sleeps)

    assert result.unwritten == {f"evt-{n:04d}" for n in range(25)}
    assert result.last_error == "ProvisionedThroughputExceededException"
    assert (result.attempts, result.retried_calls, result.written) == (5, 5, 5)


@pytest.mark.parametrize(
    "code", ["ValidationException", "ResourceNotFoundException", "AccessDeniedException"]
)
def test_an_error_that_is_not_load_propagates(code: str, sleeps: list[float]) -> None:
    def answer(call: int, keys: list[str]) -> list[str]:
        raise client_error(code)

    dynamodb = FakeDynamoDB(answer)
    with pytest.raises(ClientError) as caught:
        write_items(dynamodb, SETTINGS, items(3), sleep=sleeps)
    assert caught.value.response["Error"]["Code"] == code
    assert len(dynamodb.calls) == 1 and sleeps == []


def test_the_backoff_doubles_from_the_base_up_to_the_cap(sleeps: list[float]) -> None:
    dynamodb = FakeDynamoDB(lambda call, keys: keys)  # never writes anything
    settings = WriteSettings(table=TABLE, max_attempts=8, base_delay_s=0.05, max_delay_s=1.0)
    write_items(dynamodb, settings, items(3), sleep=sleeps, rng=MaxRandom())

    assert sleeps == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0])


@given(st.integers(1, 64), st.floats(0, 2), st.floats(0, 5), st.integers(0, 2**32))
def test_every_backoff_is_between_zero_and_its_capped_ceiling(
    attempt: int, base: float, cap: float, seed: int
) -> None:
    settings = WriteSettings(table=TABLE, base_delay_s=base, max_delay_s=cap)
    delay = settings.backoff.delay(attempt, random.Random(seed))
    assert 0 <= delay <= min(cap, base * 2 ** (attempt - 1))


def test_the_default_settings_retry_for_well_under_a_second_and_a_half(
    sleeps: list[float],
) -> None:
    dynamodb = FakeDynamoDB(lambda call, keys: keys)
    write_items(dynamodb, WriteSettings(table=TABLE), items(3), sleep=sleeps, rng=MaxRandom())
    assert len(sleeps) == 4 and sum(sleeps) == pytest.approx(0.75)


def test_retries_stop_early_when_the_invocation_is_running_out_of_time(
    sleeps: list[float],
) -> None:
    dynamodb = FakeDynamoDB(lambda call, keys: keys[:1])
    result = write_items(dynamodb, SETTINGS, items(5), sleep=sleeps, time_left_s=lambda: 1.5)

    assert (result.attempts, result.out_of_time, result.unwritten) == (1, True, {"evt-0000"})
    assert sleeps == []


def test_settings_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError, match="table is empty"):
        WriteSettings(table="")
    with pytest.raises(ValueError, match="max_attempts is 0; it must be at least 1"):
        WriteSettings(table=TABLE, max_attempts=0)


def test_the_requests_are_valid_batch_write_item_calls() -> None:
    # botocore's Stubber checks every request against the DynamoDB API model.
    client = boto3.client("dynamodb", region_name="us-east-1")
    given_items = items(30)
    left_over = {"PutRequest": {"Item": given_items[3]}}
    with Stubber(client) as stub:
        stub.add_response(
            "batch_write_item",
            {"UnprocessedItems": {TABLE: [left_over]}},
            {"RequestItems": {TABLE: [{"PutRequest": {"Item": i}} for i in given_items[:25]]}},
        )
        stub.add_response(
            "batch_write_item",
            {"UnprocessedItems": {}},
            {"RequestItems": {TABLE: [{"PutRequest": {"Item": i}} for i in given_items[25:]]}},
        )
        stub.add_response(
            "batch_write_item", {"UnprocessedItems": {}}, {"RequestItems": {TABLE: [left_over]}}
        )
        result = write_items(client, SETTINGS, given_items, sleep=lambda _: None)
        stub.assert_no_pending_responses()
    assert (result.calls, result.attempts, result.written) == (3, 2, 30)
