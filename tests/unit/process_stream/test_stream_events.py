"""A Kinesis record of the stream pipeline becomes its StreamEventTable item, or is rejected
with a reason that names the field, the value seen and what is allowed."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from sluice_common.errors import InvalidStreamEvent, SluiceError
from stream_events import (
    CATEGORIES,
    EVENT_TYPES,
    decode_data,
    insight_of,
    prepare_record,
    read_source,
    validate_event,
)
from testkit.sample_events import MISSING, changed

NOW = datetime(2026, 11, 2, 10, 41, 57, 500000, tzinfo=UTC)
Record = Callable[..., dict[str, Any]]


PRODUCED = {  # a valid purchase event as produced
    "eventId": "evt-20261102-0003",
    "userId": "u-48213",
    "eventType": "purchase",
    "timestamp": "2026-11-02T11:41:56.187+01:00",
    "value": "129.90",
    "properties": {"orderId": "o-7781", "items": 3, "gift": False},
    "sessionId": "s-9f3c2a",
}


def event(**changes: Any) -> dict[str, Any]:
    """:data:`PRODUCED` with ``changes`` applied (MISSING removes a field)."""
    return changed(PRODUCED, changes)


def validated(**changes: Any) -> Any:
    return validate_event(event(**changes), now=NOW).event


def rejection(**changes: Any) -> str:
    with pytest.raises(InvalidStreamEvent) as caught:
        validate_event(event(**changes), now=NOW)
    return str(caught.value)


def item_of(record: dict[str, Any]) -> dict[str, Any]:
    return prepare_record(record).item


def test_a_valid_record_becomes_its_enriched_item(kinesis_record: Record) -> None:
    record = kinesis_record(event(), "49590338271490256608559692538361571095921575989136588892")

    assert item_of(record) == {
        "eventId": {"S": "evt-20261102-0003"},
        "userId": {"S": "u-48213"},
        "eventType": {"S": "purchase"},
        "timestamp": {"S": "2026-11-02T10:41:56.187Z"},
        "eventDate": {"S": "2026-11-02"},
        "hourOfDay": {"N": "10"},
        "category": {"S": "conversion"},
        "insight": {"S": "high_value_purchase"},
        "shardId": {"S": "shardId-000000000000"},
        "sequenceNumber": {"S": "49590338271490256608559692538361571095921575989136588892"},
        "partitionKey": {"S": "u-48213"},
        "arrivedAt": {"S": "2026-11-02T10:41:57.500Z"},
        "value": {"N": "129.90"},
        "properties": {
            "M": {"orderId": {"S": "o-7781"}, "items": {"N": "3"}, "gift": {"BOOL": False}}
        },
        "sessionId": {"S": "s-9f3c2a"},
    }


def test_only_the_required_fields_give_an_item_without_the_optional_attributes(
    kinesis_record: Record,
) -> None:
    minimal = event(eventType="login", value=MISSING, properties=MISSING, sessionId=MISSING)
    item = item_of(kinesis_record(minimal))
    assert "value" not in item and "properties" not in item and "sessionId" not in item
    assert (item["category"], item["insight"]) == ({"S": "account"}, {"S": "routine"})


def test_null_optional_fields_and_empty_properties_count_as_absent() -> None:
    checked = validated(eventType="click", value=None, properties={}, sessionId=None)
    assert (checked.value, checked.properties, checked.session_id) == (None, None, None)


def test_unknown_fields_are_ignored_left_out_of_the_item_and_named(
    kinesis_record: Record,
) -> None:
    prepared = prepare_record(kinesis_record(event(schemaVersion=2, Referrer="ad")))
    assert prepared.ignored_fields == ("Referrer", "schemaVersion")
    assert "schemaVersion" not in prepared.item and "Referrer" not in prepared.item


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"eventId": MISSING}, "eventId is missing"),
        ({"eventId": None}, "eventId is null; it is required"),
        ({"eventId": 42}, "eventId must be a string, got a number (42)"),
        ({"eventId": ""}, "eventId is empty"),
        ({"eventId": "e" * 65}, "eventId has 65 characters; at most 64 are allowed"),
        (
            {"eventId": "evt 1"},
            "eventId 'evt 1' contains ' '; only A-Z, a-z, 0-9 and . _ : - are allowed",
        ),
        ({"userId": MISSING}, "userId is missing"),
        (
            {"userId": "u/1"},
            "userId 'u/1' contains '/'; only A-Z, a-z, 0-9 and . _ : - are allowed",
        ),
        ({"eventType": MISSING}, "eventType is missing"),
        ({"eventType": "PURCHASE"}, "eventType 'PURCHASE' must be lower case: 'purchase'"),
        (
            {"eventType": "refund"},
            "eventType 'refund' is not one of page_view, click, search, add_to_cart, purchase, "
            "signup, login, logout",
        ),
        (
            {"eventType": ["click"]},
            "eventType must be a string, one of page_view, click, search, add_to_cart, "
            "purchase, signup, login, logout; got an array",
        ),
        ({"timestamp": MISSING}, "timestamp is missing"),
        (
            {"timestamp": 1793616117},
            "timestamp must be an ISO 8601 time string like '2026-11-02T10:41:55.187Z', got a "
            "number (1793616117)",
        ),
        (
            {"timestamp": "2026-11-02T10:41:55"},
            "timestamp '2026-11-02T10:41:55' has no zone; add 'Z' (UTC) or an offset such as "
            "'+01:00'",
        ),
        (
            {"timestamp": "02/11/2026 10:41"},
            "timestamp '02/11/2026 10:41' is not an ISO 8601 time with a zone (expected e.g. "
            "'2026-11-02T10:41:55.187Z' or '2026-11-02T11:41:55+01:00')",
        ),
        (
            {"timestamp": "2026-02-30T10:00:00Z"},
            "timestamp '2026-02-30T10:00:00Z' is not a valid time: day is out of range for month",
        ),
        (
            {"timestamp": "2026-11-02T10:00:00+24:00"},
            "timestamp '2026-11-02T10:00:00+24:00' is not a valid time: offset +24:00 is out of "
            "range (-23:59..+23:59)",
        ),
        (
            {"timestamp": "2026-11-02T10:46:57.501Z"},
            "timestamp '2026-11-02T10:46:57.501Z' is more than 5 minutes after "
            "2026-11-02T10:41:57.500Z, when the record reached the stream: is the producer's "
            "clock ahead?",
        ),
        (
            {"value": MISSING},
            "value is missing; a purchase needs its value, a decimal above 0 such as '49.90'",
        ),
        ({"value": "0.00"}, "value '0.00' is zero; a purchase needs a value above 0"),
        ({"value": "-5"}, "value '-5' is negative; a value is 0 or more"),
        (
            {"value": "12,30"},
            "value must be a decimal number such as 49.90 or '49.90', got a string ('12,30')",
        ),
        (
            {"value": " 12.30"},
            "value must be a decimal number such as 49.90 or '49.90', got a string (' 12.30')",
        ),
        (
            {"value": True},
            "value must be a decimal number such as 49.90 or '49.90', got a boolean (true)",
        ),
        (
            {"value": "1" * 39},
            f"value '{'*' * 39}' has 39 significant digits; DynamoDB stores at most 38",
        ),
        (
            {"value": "1E+126"},
            "value '1E+126' is outside the numbers DynamoDB stores (magnitude 1E-130 to 9.99E+125)",
        ),
        (
            {"properties": ["a"]},
            "properties must be a flat JSON object of names to strings, numbers or booleans, "
            "got an array",
        ),
        (
            {"properties": {f"k{i}": i for i in range(21)}},
            "properties has 21 keys; at most 20 are allowed",
        ),
        ({"properties": {"": "x"}}, "properties has an empty key"),
        (
            {"properties": {"k" * 65: "x"}},
            f"properties key '{'k' * 37}...' has 65 characters; at most 64 are allowed",
        ),
        (
            {"properties": {"query": "q" * 257}},
            "properties.query has 257 characters; at most 256 are allowed",
        ),
        (
            {"properties": {"cart": {"sku": "GR-200"}}},
            "properties.cart must be a string, number or boolean, got an object (properties are "
            "flat)",
        ),
        (
            {"properties": {"skus": ["GR-200"]}},
            "properties.skus must be a string, number or boolean, got an array (properties are "
            "flat)",
        ),
        ({"properties": {"coupon": None}}, "properties.coupon is null; leave the key out instead"),
        (
            {"properties": {"big": 10**38 + 1}},
            f"properties.big {'*' * 39} has 39 significant digits; DynamoDB stores at most 38",
        ),
        (
            {"sessionId": "s 1"},
            "sessionId 's 1' contains ' '; only A-Z, a-z, 0-9 and . _ : - are allowed",
        ),
        ({"sessionId": 7}, "sessionId must be a string, got a number (7)"),
    ],
)
def test_an_invalid_event_is_rejected_with_its_reason(changes: dict[str, Any], reason: str) -> None:
    assert rejection(**changes) == reason


def test_the_first_problem_in_field_order_is_the_reason() -> None:
    assert rejection(userId="", eventType="nope", value="-1") == "userId is empty"


def test_invalid_stream_event_is_a_sluice_error_with_the_reason() -> None:
    with pytest.raises(SluiceError) as caught:
        validate_event(event(eventId=""), now=NOW)
    assert isinstance(caught.value, InvalidStreamEvent)
    assert caught.value.reason == "eventId is empty" and not caught.value.retryable


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "data is empty: the record holds no event"),
        (b"  \n", "data is blank: the record holds no event"),
        (
            b"\xff\xfe{}",
            "data is not UTF-8 text: byte 0xff at offset 0; the producer must put the event as "
            "UTF-8 JSON",
        ),
        (
            b"eventId=evt-1,userId=u-1",
            "data is not JSON: Expecting value at line 1 column 1 (data starts "
            "'eventId=evt-1,userId')",
        ),
        (b'["evt-1"]', "data must be a JSON object (the event), got an array"),
        (b'"evt-1"', "data must be a JSON object (the event), got a string ('evt-1')"),
        (b'{"eventId": "a", "eventId": "b"}', "data has the field 'eventId' twice"),
        (b'{"properties": {"k": 1, "k": 2}}', "data has the field 'k' twice"),
        (b'{"value": NaN}', "data is not JSON: NaN is not a JSON value"),
        (b'{"value": -Infinity}', "data is not JSON: -Infinity is not a JSON value"),
    ],
)
def test_data_that_is_not_a_json_object_is_rejected_with_its_reason(
    data: bytes, reason: str
) -> None:
    with pytest.raises(InvalidStreamEvent) as caught:
        decode_data(base64.b64encode(data).decode())
    assert str(caught.value) == reason


def test_data_that_is_not_base64_is_rejected() -> None:
    with pytest.raises(InvalidStreamEvent) as caught:
        decode_data("not base64!")
    assert str(caught.value) == (
        "data 'not base64!' is not base64 (Lambda delivers the record's bytes base64-encoded)"
    )


def test_an_integer_too_long_for_python_is_rejected_not_raised_as_value_error() -> None:
    text = '{"value": ' + "9" * 5000 + "}"
    with pytest.raises(InvalidStreamEvent, match=r"^data is not JSON this pipeline reads: "):
        decode_data(base64.b64encode(text.encode()).decode())


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            lambda r: r.pop("kinesis"),
            "record has no kinesis object, got null: ProcessStream reads Kinesis records as "
            "Lambda delivers them",
        ),
        (
            lambda r: r.update(eventID="49590338271490256608559692538361571095921575989136588892"),
            "record's eventID must be 'shardId-<digits>:<sequence number>', got a string "
            f"('{'*' * 37}...')",
        ),
        (
            lambda r: r["kinesis"].update(sequenceNumber=""),
            "record's kinesis.sequenceNumber must be a non-empty string, got a string ('')",
        ),
        (
            lambda r: r["kinesis"].update(approximateArrivalTimestamp="yesterday"),
            "record's kinesis.approximateArrivalTimestamp must be epoch seconds, got a string "
            "('yesterday')",
        ),
    ],
)
def test_a_record_not_shaped_as_lambda_delivers_it_is_rejected(
    kinesis_record: Record, change: Callable[[dict[str, Any]], Any], reason: str
) -> None:
    record = kinesis_record(event())
    change(record)
    with pytest.raises(InvalidStreamEvent) as caught:
        read_source(record)
    assert str(caught.value) == reason


# --- numbers: Decimal, exact, as written ------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ('"129.90"', "129.90"),  # a string keeps its trailing zero
        ("129.90", "129.90"),  # so does a JSON number: parsed as Decimal, never float
        ("0.1", "0.1"),  # a float would make this 0.1000000000000000055...
        ("100", "100"),
        ("1.5E2", "1.5E+2"),
        ('"1.5e2"', "1.5E+2"),
        ('"0129.90"', "129.90"),
        ('"12345678901234567890123456789012345678"', "12345678901234567890123456789012345678"),
        ('"1E-130"', "1E-130"),
        ('"9.99E+125"', "9.99E+125"),
    ],
)
def test_a_purchase_value_is_stored_exactly_as_written(
    kinesis_record: Record, written: str, stored: str
) -> None:
    data = json.dumps(event(value="VALUE")).replace('"VALUE"', written)
    assert item_of(kinesis_record(data))["value"] == {"N": stored}


def test_a_zero_value_is_allowed_except_for_a_purchase_and_minus_zero_is_stored_as_zero(
    kinesis_record: Record,
) -> None:
    data = json.dumps(event(eventType="page_view", value="VALUE")).replace('"VALUE"', "-0.0")
    assert item_of(kinesis_record(data))["value"] == {"N": "0.0"}


def test_property_numbers_are_exact_and_may_be_negative(kinesis_record: Record) -> None:
    data = json.dumps(event(properties={"n": "N"})).replace('"N"', "-0.30")
    assert item_of(kinesis_record(data))["properties"] == {"M": {"n": {"N": "-0.30"}}}


# --- time: UTC, milliseconds cut, judged against the record's arrival ------------------------


@pytest.mark.parametrize(
    ("written", "timestamp", "date", "hour"),
    [
        ("2026-11-02T10:41:55.187Z", "2026-11-02T10:41:55.187Z", "2026-11-02", 10),
        ("2026-11-02T01:30:00+02:00", "2026-11-01T23:30:00.000Z", "2026-11-01", 23),
        ("2026-11-01T21:30:00-05:00", "2026-11-02T02:30:00.000Z", "2026-11-02", 2),
        ("2026-11-02T16:11:55.1+0530", "2026-11-02T10:41:55.100Z", "2026-11-02", 10),
        ("2026-11-02T12:41+02", "2026-11-02T10:41:00.000Z", "2026-11-02", 10),
        ("2026-11-02T10:41:55.9999999Z", "2026-11-02T10:41:55.999Z", "2026-11-02", 10),
        ("1999-12-31T23:59:59.999Z", "1999-12-31T23:59:59.999Z", "1999-12-31", 23),
    ],
)
def test_the_timestamp_is_normalized_to_utc_milliseconds_with_its_date_and_hour(
    kinesis_record: Record, written: str, timestamp: str, date: str, hour: int
) -> None:
    item = item_of(kinesis_record(event(timestamp=written)))
    assert (item["timestamp"], item["eventDate"], item["hourOfDay"]) == (
        {"S": timestamp},
        {"S": date},
        {"N": str(hour)},
    )


def test_five_minutes_after_now_is_accepted_and_one_millisecond_more_is_not() -> None:
    limit = NOW + timedelta(minutes=5)
    assert validated(timestamp="2026-11-02T10:46:57.500Z").timestamp == limit
    with pytest.raises(InvalidStreamEvent, match="more than 5 minutes after"):
        validated(timestamp="2026-11-02T10:46:57.501Z")


def test_the_future_bound_is_the_records_arrival_not_the_clock(kinesis_record: Record) -> None:
    ahead = event(timestamp="2026-11-02T10:50:00.000Z")  # 8 minutes after ARRIVAL
    with pytest.raises(InvalidStreamEvent, match="more than 5 minutes after 2026-11-02T10:41:57"):
        prepare_record(kinesis_record(ahead))
    later = 1793616117.5 + 4 * 60  # the same event, had it reached the stream 4 minutes later
    assert item_of(kinesis_record(ahead, arrival=later))["timestamp"] == {
        "S": "2026-11-02T10:50:00.000Z"
    }


@pytest.mark.parametrize(
    ("arrival", "arrived_at"),
    [
        (1793616117.1, "2026-11-02T10:41:57.100Z"),  # 1793616117.0999999 as a double
        (1793616117.9996, "2026-11-02T10:41:58.000Z"),  # rounded to the nearest millisecond
        (1793616117, "2026-11-02T10:41:57.000Z"),
    ],
)
def test_arrived_at_is_the_arrival_timestamp_in_utc_milliseconds(
    kinesis_record: Record, arrival: float, arrived_at: str
) -> None:
    record = kinesis_record(event(timestamp="2026-11-02T10:00:00Z"), arrival=arrival)
    assert item_of(record)["arrivedAt"] == {"S": arrived_at}


# --- enrichment rules --------------------------------------------------------------------------


def test_every_event_type_has_its_category() -> None:
    by_category: dict[str, set[str]] = {}
    for event_type, category in CATEGORIES.items():
        by_category.setdefault(category, set()).add(event_type)
    assert by_category == {
        "engagement": {"page_view", "click", "search"},
        "conversion": {"add_to_cart", "purchase"},
        "account": {"signup", "login", "logout"},
    }
    for event_type in EVENT_TYPES:
        value = "1" if event_type == "purchase" else MISSING
        assert validated(eventType=event_type, value=value).event_type == event_type


@pytest.mark.parametrize(
    ("event_type", "value", "hour", "insight"),
    [
        ("purchase", "100", 10, "high_value_purchase"),  # the threshold is inclusive
        ("purchase", "99.99", 10, "routine"),
        ("purchase", "250", 3, "high_value_purchase"),  # before the late-night rule
        ("purchase", "99.99", 3, "late_night_activity"),
        ("add_to_cart", "24.90", 10, "cart_activity"),
        ("add_to_cart", "500", 2, "cart_activity"),  # high value is a purchase rule only
        ("signup", None, 14, "new_user"),
        ("signup", None, 1, "new_user"),  # before the late-night rule
        ("page_view", None, 0, "late_night_activity"),
        ("login", None, 5, "late_night_activity"),  # 05:59 is still late night
        ("login", None, 6, "routine"),
        ("logout", None, 23, "routine"),
    ],
)
def test_the_insight_is_the_first_rule_that_matches(
    event_type: str, value: str | None, hour: int, insight: str
) -> None:
    assert insight_of(event_type, Decimal(value) if value else None, hour) == insight


def test_late_night_is_judged_on_the_utc_hour(kinesis_record: Record) -> None:
    # 08:30 in Tokyo is 23:30 UTC the day before; 01:30 in Berlin is 00:30 UTC.
    tokyo = event(eventType="click", value=MISSING, timestamp="2026-11-02T08:30:00+09:00")
    berlin = event(eventType="click", value=MISSING, timestamp="2026-11-02T01:30:00+01:00")
    assert item_of(kinesis_record(tokyo))["insight"] == {"S": "routine"}
    assert item_of(kinesis_record(berlin))["insight"] == {"S": "late_night_activity"}


def test_a_replayed_record_gives_an_identical_item(kinesis_record: Record) -> None:
    record = kinesis_record(event())
    first = item_of(record)
    assert item_of(json.loads(json.dumps(record))) == first
