"""A card number in a stream record never reaches a rejection reason in full: the reason is
logged (and forwarded to Splunk) with the record's shard and sequence number."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from test_stream_events import NOW, event

from sluice_common.errors import InvalidStreamEvent
from stream_events import decode_data, validate_event

TEST_PAN = "4111111111111111"  # Visa's published test number

PAN_IN_FIELD: dict[str, Any] = {
    "eventId": TEST_PAN + "!",
    "userId": f"u {TEST_PAN}",
    "eventType": TEST_PAN,
    "timestamp": "4111 1111 1111 1111",
    "value": "-4111-1111-1111-1111",
    "sessionId": f"s {TEST_PAN}",
}


def _rejection(changes: dict[str, Any]) -> str:
    with pytest.raises(InvalidStreamEvent) as caught:
        validate_event(event(**changes), now=NOW)
    return str(caught.value)


def _no_four_digits_of_it(reason: str) -> None:
    assert "1111" not in reason.replace(" ", "").replace("-", ""), reason


@pytest.mark.parametrize(("field", "value"), PAN_IN_FIELD.items(), ids=list(PAN_IN_FIELD))
def test_a_card_number_in_a_checked_field_is_masked_in_the_reason(field: str, value: Any) -> None:
    reason = _rejection({field: value})

    assert field in reason
    _no_four_digits_of_it(reason)


@pytest.mark.parametrize(
    "changes",
    [
        {"value": int("9" * 23 + TEST_PAN)},  # 39 digits: more than DynamoDB keeps
        {"properties": {"card": int("9" * 23 + TEST_PAN)}},
        {"properties": {TEST_PAN + "x" * 200: 1}},  # a key too long
    ],
    ids=["value", "property value", "property key"],
)
def test_a_card_number_in_a_number_or_key_is_masked_in_the_reason(changes: dict[str, Any]) -> None:
    _no_four_digits_of_it(_rejection(changes))


@pytest.mark.parametrize(
    "data",
    [
        base64.b64encode(f'{{"card":"{TEST_PAN}" oops'.encode()).decode(),  # not JSON
        base64.b64encode(f"{TEST_PAN[:6]}{TEST_PAN[6:]}, not JSON".encode()).decode(),
        base64.b64encode(
            json.dumps({TEST_PAN: 1}).encode()[:-1] + b', "' + TEST_PAN.encode() + b'": 2}'
        ).decode(),
        TEST_PAN + "*",  # not base64
    ],
    ids=["data start", "bare number", "duplicate key", "not base64"],
)
def test_a_card_number_in_undecodable_data_is_masked_in_the_reason(data: str) -> None:
    with pytest.raises(InvalidStreamEvent) as caught:
        decode_data(data)

    _no_four_digits_of_it(str(caught.value))


def test_a_card_number_as_a_field_name_is_masked_in_the_ignored_fields() -> None:
    validation = validate_event(event(**{TEST_PAN: "x"}), now=NOW)

    assert validation.ignored_fields == ("*" * 16,)
