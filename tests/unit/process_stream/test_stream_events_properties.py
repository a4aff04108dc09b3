"""Any valid event, in any of the forms the contract allows, becomes an item keyed by its
eventId that carries its fields exactly; the same record always gives the same item. Case
counts come from the hypothesis profile (tests/conftest.py)."""

from __future__ import annotations

import base64
import json
import string
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from stream_events import CATEGORIES, EVENT_TYPES, INSIGHTS, prepare_record, utc_text

ID_CHARACTERS = string.ascii_letters + string.digits + "._:-"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

ids = st.text(ID_CHARACTERS, min_size=1, max_size=64)
decimals = st.builds(
    lambda digits, places: Decimal(digits).scaleb(-places),
    st.integers(0, 10**20),
    st.integers(0, 8),
)
property_values = st.one_of(
    st.text(max_size=256),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.builds(lambda d, negative: -d if negative else d, decimals, st.booleans()),
)


def to_json(value: Any) -> str:
    """JSON with Decimals written as the exact numbers they are (json.dumps cannot)."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Decimal):
        return str(value)
    return json.dumps(value)


def zone_text(minutes: int, style: str) -> str:
    if minutes == 0 and style == "Z":
        return "Z"
    sign, hours, rest = "-" if minutes < 0 else "+", abs(minutes) // 60, abs(minutes) % 60
    return f"{sign}{hours:02d}:{rest:02d}" if style == ":" else f"{sign}{hours:02d}{rest:02d}"


@st.composite
def valid_records(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any], datetime]:
    """(a Kinesis record as Lambda delivers it, the event in it, the event's instant)."""
    moment = draw(st.datetimes(datetime(2000, 1, 1), datetime(2030, 1, 1), timezones=st.just(UTC)))
    offset = draw(st.integers(-(23 * 60 + 59), 23 * 60 + 59))
    local = moment.astimezone(timezone(timedelta(minutes=offset)))
    fraction = f".{local.microsecond:06d}"[: draw(st.integers(0, 7))] if local.microsecond else ""
    fraction = "" if fraction == "." else fraction
    written = local.strftime("%Y-%m-%dT%H:%M:%S") + fraction
    written += zone_text(offset, draw(st.sampled_from(["Z", ":", "compact"])))
    kept = int(fraction[1:].ljust(3, "0")[:3]) * 1000 if fraction else 0
    instant = moment.replace(microsecond=kept)  # what the written text says, to the millisecond

    event_type = draw(st.sampled_from(EVENT_TYPES))
    event: dict[str, Any] = {
        "eventId": draw(ids),
        "userId": draw(ids),
        "eventType": event_type,
        "timestamp": written,
    }
    if event_type == "purchase" or draw(st.booleans()):
        value = draw(decimals.filter(lambda d: d > 0 or event_type != "purchase"))
        event["value"] = draw(st.sampled_from([value, format(value, "f")]))
    if draw(st.booleans()):
        event["properties"] = draw(
            st.dictionaries(st.text(min_size=1, max_size=64), property_values, max_size=20)
        )
    if draw(st.booleans()):
        event["sessionId"] = draw(ids)

    # The record reached the stream at most 5 minutes before the event's time, or any time later.
    arrival_ms = (instant - EPOCH) // timedelta(milliseconds=1) + draw(
        st.integers(-300_000, 10**10)
    )
    sequence_number = str(draw(st.integers(10**55, 10**56 - 1)))
    record = {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": draw(st.text(min_size=1, max_size=256)),
            "sequenceNumber": sequence_number,
            "data": base64.b64encode(to_json(event).encode()).decode(),
            "approximateArrivalTimestamp": arrival_ms / 1000,
        },
        "eventSource": "aws:kinesis",
        "eventID": f"shardId-{draw(st.integers(0, 10**12)):012d}:{sequence_number}",
        "eventName": "aws:kinesis:record",
    }
    return record, event, instant


@given(valid_records())
def test_any_valid_event_becomes_an_item_keyed_by_its_event_id(
    case: tuple[dict[str, Any], dict[str, Any], datetime],
) -> None:
    record, event, instant = case
    item = prepare_record(record).item

    assert item["eventId"] == {"S": event["eventId"]}
    assert (item["userId"], item["eventType"]) == (
        {"S": event["userId"]},
        {"S": event["eventType"]},
    )
    assert item["timestamp"] == {"S": utc_text(instant)}
    assert (item["eventDate"], item["hourOfDay"]) == (
        {"S": utc_text(instant)[:10]},
        {"N": str(instant.hour)},
    )
    assert item["category"] == {"S": CATEGORIES[event["eventType"]]}
    assert item["insight"]["S"] in INSIGHTS
    assert item["sequenceNumber"] == {"S": record["kinesis"]["sequenceNumber"]}
    if "value" in event:
        assert Decimal(item["value"]["N"]) == Decimal(event["value"])
    else:
        assert "value" not in item
    properties = event.get("properties") or {}
    stored = item.get("properties", {"M": {}})["M"]
    assert stored.keys() == properties.keys()
    for key, value in properties.items():
        if isinstance(value, bool):
            assert stored[key] == {"BOOL": value}
        elif isinstance(value, str):
            assert stored[key] == {"S": value}
        else:
            assert Decimal(stored[key]["N"]) == value
    assert item.get("sessionId") == ({"S": event["sessionId"]} if "sessionId" in event else None)


@given(valid_records())
def test_the_same_record_always_gives_the_same_item(
    case: tuple[dict[str, Any], dict[str, Any], datetime],
) -> None:
    record, _, _ = case
    redelivered = json.loads(json.dumps(record))  # as Lambda delivers it on a retry or replay
    assert prepare_record(redelivered).item == prepare_record(record).item
