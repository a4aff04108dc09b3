"""A published payment event is accepted and normalized, or rejected with a reason that names
the field, the value seen and what is allowed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from payment_validation import (
    parse_body,
    read_step_input,
    validate_body,
    validate_event,
)
from sluice_common.errors import InvalidPayment
from testkit.sample_events import MISSING, OPTIONAL, VALIDATED, changed

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


# The sample event as published: occurredAt in Berlin time, every optional field.
PUBLISHED = {**VALIDATED, "occurredAt": "2026-11-02T10:41:55.187+01:00", **OPTIONAL}


def event(**changes: Any) -> dict[str, Any]:
    """:data:`PUBLISHED` with ``changes`` applied (MISSING removes a field)."""
    return changed(PUBLISHED, changes)


def validated(**changes: Any) -> dict[str, Any]:
    return dict(validate_body(json.dumps(event(**changes)), now=NOW).payment)


def rejection(body: str) -> str:
    with pytest.raises(InvalidPayment) as caught:
        validate_body(body, now=NOW)
    return str(caught.value)


# --- accepted --------------------------------------------------------------------------------


def test_a_valid_event_is_normalized_with_every_field_it_carries() -> None:
    assert validated() == {**VALIDATED, **OPTIONAL}  # occurredAt in UTC
    assert validated()["occurredAt"] == "2026-11-02T09:41:55.187Z"


@pytest.mark.parametrize(
    ("currency", "amount", "normalized"),
    [
        ("JPY", "1500", "1500"),  # scale 0
        ("KRW", "35000", "35000"),
        ("CLP", "25000", "25000"),
        ("EUR", "12.3", "12.30"),  # scale 2: padded
        ("EUR", "12", "12.00"),
        ("EUR", "0.01", "0.01"),
        ("EUR", "012.30", "12.30"),  # a leading zero is dropped
        ("USD", "999999999999.00", "999999999999.00"),  # the largest amount accepted
        ("KWD", "1.25", "1.250"),  # scale 3
        ("BHD", "0.005", "0.005"),
        ("OMR", "7", "7.000"),
        ("CLF", "1.2345", "1.2345"),  # scale 4
        ("UYW", "3.1", "3.1000"),
    ],
)
def test_an_amount_is_normalized_to_exactly_the_currencys_scale(
    currency: str, amount: str, normalized: str
) -> None:
    payment = validated(currency=currency, amount=amount)
    assert (payment["currency"], payment["amount"]) == (currency, normalized)


@pytest.mark.parametrize(
    ("json_number", "currency", "normalized"),
    [
        ("12.3", "EUR", "12.30"),
        ("1500", "JPY", "1500"),
        ("1.250", "KWD", "1.250"),
        ("7", "EUR", "7.00"),
        # Exactly the digits written: as floats, 0.1 is 0.1000000000000000055... and
        # 123456789012.3456 is 123456789012.34559631...
        ("0.1", "EUR", "0.10"),
        ("123456789012.3456", "CLF", "123456789012.3456"),
    ],
)
def test_an_amount_sent_as_a_json_number_is_read_as_a_decimal_never_a_float(
    json_number: str, currency: str, normalized: str
) -> None:
    body = json.dumps(event(currency=currency, amount="AMOUNT")).replace('"AMOUNT"', json_number)
    assert validate_body(body, now=NOW).payment["amount"] == normalized


@pytest.mark.parametrize(
    ("occurred_at", "utc"),
    [
        ("2026-11-02T10:41:55.187+01:00", "2026-11-02T09:41:55.187Z"),
        ("2026-11-02T09:41:55Z", "2026-11-02T09:41:55.000Z"),
        ("2026-11-02T09:41Z", "2026-11-02T09:41:00.000Z"),
        ("2026-11-01T23:30:00-05:00", "2026-11-02T04:30:00.000Z"),  # the next day in UTC
        ("2026-11-02T09:41:55.1879999Z", "2026-11-02T09:41:55.187Z"),  # cut, not rounded
        ("2026-11-02T09:41:55.5+00:00", "2026-11-02T09:41:55.500Z"),
        ("2020-02-29T12:00:00+05:30", "2020-02-29T06:30:00.000Z"),
    ],
)
def test_occurred_at_becomes_utc_with_milliseconds(occurred_at: str, utc: str) -> None:
    assert validated(occurredAt=occurred_at)["occurredAt"] == utc


def test_occurred_at_a_little_ahead_of_now_is_accepted() -> None:
    ahead = (NOW + timedelta(minutes=4, seconds=59)).isoformat()
    assert validated(occurredAt=ahead)["occurredAt"] == "2026-11-02T12:04:59.000Z"


def test_optional_fields_are_kept_only_when_present() -> None:
    payment = validated(
        customerId=MISSING, cardCountry=MISSING, description=MISSING, schemaVersion=MISSING
    )
    assert set(payment) == {
        "transactionId", "merchantId", "amount", "currency", "type", "occurredAt"
    }  # fmt: skip


def test_an_optional_field_that_is_null_counts_as_absent() -> None:
    payment = validated(customerId=None, cardCountry=None, description=None, schemaVersion=None)
    assert "customerId" not in payment and "cardCountry" not in payment
    assert "description" not in payment and "schemaVersion" not in payment


def test_an_empty_description_is_kept() -> None:
    assert validated(description="")["description"] == ""


def test_a_refund_is_a_positive_amount_of_type_refund() -> None:
    payment = validated(type="REFUND", amount="19.99")
    assert (payment["type"], payment["amount"]) == ("REFUND", "19.99")


def test_unknown_fields_are_ignored_left_out_and_named() -> None:
    body = json.dumps(event(channel="web", loyaltyPoints=12))
    validation = validate_body(body, now=NOW)
    assert "channel" not in validation.payment and "loyaltyPoints" not in validation.payment
    assert validation.ignored_fields == ("channel", "loyaltyPoints")
    assert validation.payment == validate_body(json.dumps(event()), now=NOW).payment


# --- the body and the step input -------------------------------------------------------------


def test_an_sns_envelope_is_unwrapped_when_raw_delivery_is_off() -> None:
    envelope = {
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:sluice-payment-events",
        "Message": json.dumps(event()),
        "Timestamp": "2026-11-02T09:41:56.000Z",
        "SignatureVersion": "1",
    }
    unwrapped = validate_body(json.dumps(envelope), now=NOW)
    direct = validate_body(json.dumps(event()), now=NOW)
    assert unwrapped.payment == direct.payment
    assert (unwrapped.from_sns_envelope, direct.from_sns_envelope) == (True, False)


def test_an_sns_envelope_keeps_the_messages_amount_exact() -> None:
    message = json.dumps(event(amount="AMOUNT")).replace('"AMOUNT"', "12.3")
    envelope = {"Type": "Notification", "Message": message}
    assert validate_body(json.dumps(envelope), now=NOW).payment["amount"] == "12.30"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("", "body is empty"),
        ("   ", "body is empty"),
        ("not json", "body is not JSON: Expecting value at line 1 column 1"),
        ('{"transactionId": "x",', "body is not JSON: Expecting property name enclosed in"),
        ("[1, 2]", "body must be a JSON object (the payment event), got an array"),
        ('"a string"', "body must be a JSON object (the payment event), got a string ('a string')"),
        ("null", "body must be a JSON object (the payment event), got null"),
        ('{"amount": "1", "amount": "1000"}', "body has the field 'amount' twice"),
        (
            '{"Type": "Notification", "Message": 5}',
            "body is an SNS envelope whose Message is not a string: a number (5)",
        ),
        (
            '{"Type": "Notification", "Message": "oops"}',
            "SNS envelope's Message is not JSON: Expecting value at line 1 column 1",
        ),
        (
            '{"Type": "Notification", "Message": "[]"}',
            "body is an SNS envelope whose Message is not a JSON object (the payment event)",
        ),
        ("[" * 100_000 + "]" * 100_000, "body is not JSON this pipeline reads"),
    ],
)
def test_a_body_that_is_not_a_payment_object_is_rejected_with_reason(
    body: str, reason: str
) -> None:
    assert rejection(body).startswith(reason)


def test_a_body_is_parsed_into_the_event_and_where_it_came_from() -> None:
    assert parse_body('{"a": 1}') == ({"a": 1}, False)


def test_the_step_input_gives_the_sqs_body_string() -> None:
    assert read_step_input({"messageId": "m-1", "body": '{"a": 1}'}) == '{"a": 1}'


@pytest.mark.parametrize(
    ("step_input", "reason"),
    [
        (["body"], "step input must be an object {'messageId', 'body'}, got an array"),
        ({"messageId": "m-1"}, "step input has no body: expected {'messageId': ..., 'body'"),
        ({"body": {"amount": "1"}}, "step input's body must be the SQS body as a string"),
        ({"body": None}, "step input's body must be the SQS body as a string, got null"),
    ],
)
def test_a_malformed_step_input_is_rejected_as_invalid_payment(
    step_input: object, reason: str
) -> None:
    with pytest.raises(InvalidPayment) as caught:
        read_step_input(step_input)
    assert str(caught.value).startswith(reason)


# --- rejected fields -------------------------------------------------------------------------

FIELD_REJECTIONS = [
    ({"transactionId": MISSING}, "transactionId is missing"),
    ({"transactionId": None}, "transactionId is null; it is required"),
    ({"transactionId": 123}, "transactionId must be a string, got a number (123)"),
    ({"transactionId": ""}, "transactionId is empty"),
    ({"transactionId": "t" * 65}, "transactionId has 65 characters; at most 64 are allowed"),
    ({"transactionId": "pay 1"}, "transactionId 'pay 1' contains ' '; only A-Z, a-z, 0-9 and"),
    ({"transactionId": "pay\u00e91"}, "transactionId 'pay\u00e91' contains '\u00e9'"),
    ({"merchantId": MISSING}, "merchantId is missing"),
    ({"merchantId": "m/1001"}, "merchantId 'm/1001' contains '/'"),
    ({"merchantId": ["m-1001"]}, "merchantId must be a string, got an array"),
    ({"currency": MISSING}, "currency is missing"),
    ({"currency": "XYZ"}, "currency 'XYZ' is not an ISO 4217 code"),
    ({"currency": "HRK"}, "currency 'HRK' is not an ISO 4217 code (active alphabetic codes only)"),
    ({"currency": "EURO"}, "currency 'EURO' is not an ISO 4217 code"),
    ({"currency": " EUR"}, "currency ' EUR' is not an ISO 4217 code"),
    ({"currency": "eur"}, "currency 'eur' must be upper case: 'EUR'"),
    ({"currency": 978}, "currency must be a 3-letter ISO 4217 code like 'EUR', got a number (978)"),
    ({"currency": "XAU"}, "currency 'XAU' is gold: ISO 4217 defines no minor unit for it, so it"),
    ({"currency": "XDR"}, "currency 'XDR' is the IMF's special drawing right: ISO 4217 defines no"),
    ({"currency": "XXX"}, "currency 'XXX' is the code for no currency: ISO 4217 defines no minor"),
    ({"type": MISSING}, "type is missing"),
    ({"type": "payment"}, "type 'payment' must be 'PAYMENT' or 'REFUND' (upper case)"),
    ({"type": "CHARGE"}, "type 'CHARGE' must be 'PAYMENT' or 'REFUND'"),
    ({"type": 1}, "type a number (1) must be 'PAYMENT' or 'REFUND'"),
    ({"occurredAt": MISSING}, "occurredAt is missing"),
    (
        {"occurredAt": "2026-13-01"},
        "occurredAt '2026-13-01' is not an ISO 8601 time with a timezone",
    ),
    ({"occurredAt": "02/11/2026 10:41"}, "occurredAt '02/11/2026 10:41' is not an ISO 8601 time"),
    (
        {"occurredAt": "2026-11-02 10:41:55Z"},
        "occurredAt '2026-11-02 10:41:55Z' is not an ISO 8601",
    ),
    (
        {"occurredAt": "2026-11-02T10:41:55"},
        "occurredAt '2026-11-02T10:41:55' has no timezone; add",
    ),
    (
        {"occurredAt": "2026-13-01T00:00:00Z"},
        "occurredAt '2026-13-01T00:00:00Z' is not a valid time: month must be in 1..12",
    ),
    (
        {"occurredAt": "2026-02-30T10:00:00Z"},
        "occurredAt '2026-02-30T10:00:00Z' is not a valid time",
    ),
    (
        {"occurredAt": "2026-11-02T24:00:00Z"},
        "occurredAt '2026-11-02T24:00:00Z' is not a valid time: hour must be in 0..23",
    ),
    (
        {"occurredAt": "2026-11-02T10:00:00+24:00"},
        "occurredAt '2026-11-02T10:00:00+24:00' is not a valid time: offset +24:00 is out of range",
    ),
    (
        {"occurredAt": "0001-01-01T00:00:00+01:00"},
        "occurredAt '0001-01-01T00:00:00+01:00' is not a",
    ),
    (
        {"occurredAt": 1762076515},
        "occurredAt must be an ISO 8601 time string like '2026-03-14T10:41:55.187Z', got a "
        "number (1762076515)",
    ),
    (
        {"occurredAt": "2026-11-02T12:05:00.001Z"},
        "occurredAt '2026-11-02T12:05:00.001Z' is more than 5 minutes in the future (it is "
        "2026-11-02T12:00:00.000Z now)",
    ),
    ({"customerId": ""}, "customerId is empty; leave it out instead"),
    ({"customerId": "c" * 65}, "customerId has 65 characters; at most 64 are allowed"),
    ({"customerId": 88412}, "customerId must be a string, got a number (88412)"),
    ({"cardCountry": "de"}, "cardCountry 'de' must be upper case: 'DE'"),
    ({"cardCountry": "XX"}, "cardCountry 'XX' is not an ISO 3166-1 alpha-2 country code"),
    ({"cardCountry": "DEU"}, "cardCountry 'DEU' is not an ISO 3166-1 alpha-2 country code"),
    ({"cardCountry": "UK"}, "cardCountry 'UK' is not an ISO 3166-1 alpha-2 country code"),
    (
        {"cardCountry": 276},
        "cardCountry must be an ISO 3166-1 alpha-2 code like 'DE', got a number",
    ),
    ({"description": "d" * 257}, "description has 257 characters; at most 256 are allowed"),
    ({"description": {"text": "x"}}, "description must be a string, got an object"),
    ({"schemaVersion": 2}, "schemaVersion 2 is not supported; this pipeline reads schemaVersion 1"),
    ({"schemaVersion": "1"}, "schemaVersion must be the number 1, got a string ('1')"),
    ({"schemaVersion": True}, "schemaVersion must be the number 1, got a boolean (true)"),
]


@pytest.mark.parametrize(
    ("changes", "reason"),
    FIELD_REJECTIONS,
    ids=[f"{next(iter(c))}={c[next(iter(c))]!r}"[:40] for c, _ in FIELD_REJECTIONS],
)
def test_an_invalid_field_is_rejected_with_the_field_the_value_and_the_rule(
    changes: dict[str, Any], reason: str
) -> None:
    assert rejection(json.dumps(event(**changes))).startswith(reason)


def test_the_first_invalid_field_is_the_reason() -> None:
    # Both are wrong: transactionId is checked first.
    assert (
        rejection(json.dumps(event(transactionId="", currency="XYZ"))) == "transactionId is empty"
    )


# --- rejected amounts ------------------------------------------------------------------------

AMOUNT_REJECTIONS = [
    ("EUR", "12.345", "amount '12.345' has 3 decimal places; EUR allows 2"),
    ("EUR", "12.340", "amount '12.340' has 3 decimal places; EUR allows 2"),
    ("EUR", "19.999", "amount '19.999' has 3 decimal places; EUR allows 2"),
    ("JPY", "1500.5", "amount '1500.5' has 1 decimal place; JPY allows 0"),
    ("JPY", "1500.0", "amount '1500.0' has 1 decimal place; JPY allows 0"),
    ("KWD", "1.2345", "amount '1.2345' has 4 decimal places; KWD allows 3"),
    ("CLF", "1.23456", "amount '1.23456' has 5 decimal places; CLF allows 4"),
    ("EUR", "0", "amount '0' is zero; a payment moves a positive amount"),
    ("EUR", "0.00", "amount '0.00' is zero; a payment moves a positive amount"),
    ("EUR", "-0.00", "amount '-0.00' is zero"),
    ("EUR", "-5.00", "amount '-5.00' is negative; send a refund as type 'REFUND' with a positive"),
    ("EUR", "NaN", "amount 'NaN' is not a finite number"),
    ("EUR", "nan", "amount 'nan' is not a finite number"),
    ("EUR", "sNaN", "amount 'sNaN' is not a finite number"),
    ("EUR", "Infinity", "amount 'Infinity' is not a finite number"),
    ("EUR", "-Infinity", "amount '-Infinity' is not a finite number"),
    ("EUR", "inf", "amount 'inf' is not a finite number"),
    ("EUR", "1E+3", "amount '1E+3' is in exponent form; send a plain decimal such as '12.30'"),
    ("EUR", "1e3", "amount '1e3' is in exponent form"),
    ("EUR", "1.5E-2", "amount '1.5E-2' is in exponent form"),
    ("EUR", " 12.30", "amount ' 12.30' has leading or trailing whitespace"),
    ("EUR", "12.30 ", "amount '12.30 ' has leading or trailing whitespace"),
    ("EUR", "12.30\n", "amount '12.30\n' has leading or trailing whitespace"),
    ("EUR", "", "amount is an empty string"),
    ("EUR", "12,30", "amount '12,30' is not a plain decimal: digits with an optional '.' and"),
    ("EUR", "+12.30", "amount '+12.30' is not a plain decimal"),
    ("EUR", ".5", "amount '.5' is not a plain decimal"),
    ("EUR", "5.", "amount '5.' is not a plain decimal"),
    ("EUR", "1_000", "amount '1_000' is not a plain decimal"),
    ("EUR", "12.30 EUR", "amount '12.30 EUR' is not a plain decimal"),
    ("EUR", "\u0661\u0662", "amount '\u0661\u0662' is not a plain decimal"),  # Arabic-Indic digits
    ("EUR", "0x10", "amount '0x10' is not a plain decimal"),
    (
        "EUR",
        "999999999999.01",
        "amount '************.01' is above the largest amount accepted, 999999999999 EUR",
    ),
    ("JPY", "1" * 200, f"amount '{'*' * 37}...' is above the largest"),
    ("EUR", True, "amount must be a decimal string like '12.30', got a boolean (true)"),
    ("EUR", False, "amount must be a decimal string like '12.30', got a boolean (false)"),
    ("EUR", ["12.30"], "amount must be a decimal string like '12.30', got an array"),
    ("EUR", {"value": "12.30"}, "amount must be a decimal string like '12.30', got an object"),
    ("EUR", None, "amount is null; it is required"),
    ("EUR", MISSING, "amount is missing"),
]


@pytest.mark.parametrize(
    ("currency", "amount", "reason"),
    AMOUNT_REJECTIONS,
    ids=[f"{c}-{a!r}"[:40] for c, a, _ in AMOUNT_REJECTIONS],
)
def test_an_invalid_amount_is_rejected_with_the_value_and_the_rule(
    currency: str, amount: object, reason: str
) -> None:
    assert rejection(json.dumps(event(currency=currency, amount=amount))).startswith(reason)


def test_an_amount_with_more_decimals_than_the_currency_allows_is_rejected_with_reason() -> None:
    assert rejection(json.dumps(event(amount="12.345"))) == (
        "amount '12.345' has 3 decimal places; EUR allows 2"
    )


JSON_NUMBER_REJECTIONS = [
    ("1E3", "amount 1E3 is in exponent form; send a plain decimal such as '12.30'"),
    ("1.5e1", "amount 1.5e1 is in exponent form"),
    ("NaN", "amount NaN is not a finite number"),
    ("Infinity", "amount Infinity is not a finite number"),
    ("-Infinity", "amount -Infinity is not a finite number"),
    ("-12.30", "amount -12.30 is negative"),
    ("0", "amount 0 is zero"),
    ("0.00", "amount 0.00 is zero"),
    ("12.345", "amount 12.345 has 3 decimal places; EUR allows 2"),
    ("1000000000000", "amount 1000000000000 is above the largest amount accepted"),
    ("1" + "0" * 5000, "body is not JSON this pipeline reads"),  # past Python's int limit
]


@pytest.mark.parametrize(("literal", "reason"), JSON_NUMBER_REJECTIONS)
def test_an_invalid_amount_sent_as_a_json_number_is_rejected_with_reason(
    literal: str, reason: str
) -> None:
    body = json.dumps(event(amount="AMOUNT")).replace('"AMOUNT"', literal)
    assert rejection(body).startswith(reason)


def test_an_exponent_number_in_another_field_is_shown_as_written() -> None:
    body = json.dumps(event(transactionId="ID")).replace('"ID"', "1E3")
    assert rejection(body) == "transactionId must be a string, got a number (1E3)"


def test_a_long_value_is_cut_in_the_reason() -> None:
    reason = rejection(json.dumps(event(currency="Q" * 500)))
    assert (
        reason == f"currency '{'Q' * 37}...' is not an ISO 4217 code (active alphabetic codes only)"
    )


def test_validate_event_takes_a_parsed_event_and_now() -> None:
    validation = validate_event(event(), now=NOW)
    assert validation.payment["occurredAt"] == "2026-11-02T09:41:55.187Z"
    with pytest.raises(InvalidPayment, match="more than 5 minutes in the future"):
        validate_event(event(), now=datetime(2026, 11, 2, 9, 30, tzinfo=UTC))
