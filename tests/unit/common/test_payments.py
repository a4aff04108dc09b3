"""The payment contract shared by the payment steps: currency scales, the shape checks a step
runs on its input, and the DynamoDB item (exact numbers, never floats)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from sluice_common.countries import ALPHA_2
from sluice_common.currencies import MINOR_UNITS, NO_MINOR_UNIT
from sluice_common.errors import InvalidPayment, SluiceError
from sluice_common.payments import (
    as_processed,
    as_validated,
    currency_scale,
    payment_in,
    to_dynamodb_item,
)
from testkit.sample_events import VALIDATED

PROCESSED: dict[str, Any] = {
    **VALIDATED,
    "fee": "0.60",
    "netAmount": "41.90",
    "feeBasisPoints": 140,
    "status": "SETTLEMENT_PENDING",
}


def test_invalid_payment_is_a_sluice_error_named_for_the_workflows_catch() -> None:
    assert issubclass(InvalidPayment, SluiceError)
    assert InvalidPayment.__name__ == "InvalidPayment"
    assert InvalidPayment.retryable is False


@pytest.mark.parametrize(
    ("currency", "scale"),
    [
        ("JPY", 0), ("KRW", 0), ("CLP", 0), ("ISK", 0), ("VND", 0), ("XOF", 0),
        ("EUR", 2), ("USD", 2), ("GBP", 2), ("CHF", 2), ("XCG", 2), ("ZWG", 2),
        ("BHD", 3), ("KWD", 3), ("OMR", 3), ("JOD", 3), ("TND", 3), ("LYD", 3), ("IQD", 3),
        ("CLF", 4), ("UYW", 4),
    ],
)  # fmt: skip
def test_each_currency_has_its_iso_4217_minor_unit(currency: str, scale: int) -> None:
    assert currency_scale(currency) == scale


def test_the_currency_table_holds_active_alphabetic_codes_only() -> None:
    assert all(len(code) == 3 and code.isupper() and code.isalpha() for code in MINOR_UNITS)
    assert set(MINOR_UNITS.values()) == {0, 2, 3, 4}
    assert not set(MINOR_UNITS) & set(NO_MINOR_UNIT)
    # Withdrawn or replaced: not payable any more.
    assert not {"HRK", "BGN", "ANG", "ZWL", "SLL", "CUC", "VEF", "DEM", "LTL"} & set(MINOR_UNITS)


@pytest.mark.parametrize("code", ["XAU", "XAG", "XPT", "XPD", "XDR", "XBA", "XSU", "XTS", "XXX"])
def test_a_code_without_a_minor_unit_is_not_payable_and_says_why(code: str) -> None:
    with pytest.raises(InvalidPayment) as caught:
        currency_scale(code)
    assert str(caught.value).startswith(f"currency '{code}' is {NO_MINOR_UNIT[code]}: ISO 4217")
    assert str(caught.value).endswith("defines no minor unit for it, so it is not payable")


def test_the_country_table_holds_the_249_assigned_alpha_2_codes() -> None:
    assert len(ALPHA_2) == 249
    assert {"DE", "US", "GB", "JP", "KW", "CW", "SS"} <= ALPHA_2
    assert not {"UK", "EU", "XK", "ZZ", "AN"} & ALPHA_2  # reserved, user-assigned, withdrawn


# --- the shape checks on a step's input ------------------------------------------------------


def test_a_validated_payment_passes_its_shape_check_without_unknown_keys() -> None:
    assert as_validated({**VALIDATED, "debug": True}) == VALIDATED


def test_a_processed_payment_passes_its_shape_check() -> None:
    assert as_processed(PROCESSED) == PROCESSED


NOT_VALIDATED = [  # changes to VALIDATED, and the reason as_validated refuses the result
    ({"amount": "42.5"}, "payment.amount '42.5' is not a positive amount with exactly 2"),
    ({"amount": "042.50"}, "payment.amount '042.50' is not a positive amount"),
    ({"amount": "0.00"}, "payment.amount '0.00' is not a positive amount"),
    ({"amount": 42.5}, "payment.amount must be an amount string, got a number (42.5)"),
    ({"currency": "XAU"}, "currency 'XAU' is gold"),
    ({"currency": None}, "payment.currency must be a non-empty string, got null"),
    ({"transactionId": None}, "payment.transactionId must be a non-empty string, got null"),
    ({"merchantId": "m 1"}, "payment.merchantId 'm 1' is not a valid id"),
    ({"type": "CHARGE"}, "payment.type must be 'PAYMENT' or 'REFUND', got a string"),
    ({"occurredAt": "2026-11-02T10:41:55+01:00"}, "payment.occurredAt '2026-11-02T10:41"),
    ({"cardCountry": "XX"}, "payment.cardCountry 'XX' is not a country code"),
    ({"schemaVersion": 2}, "payment.schemaVersion must be 1, got a number (2)"),
]
NOT_PROCESSED = [  # changes to PROCESSED, and the reason as_processed refuses the result
    ({"fee": None}, "payment.fee must be an amount string, got null"),
    ({"fee": "0.6"}, "payment.fee '0.6' is not an amount with exactly 2 decimal places"),
    ({"netAmount": "41.9"}, "payment.netAmount '41.9' is not an amount"),
    ({"feeBasisPoints": "140"}, "payment.feeBasisPoints must be an integer from 0 to 10000"),
    ({"feeBasisPoints": 10001}, "payment.feeBasisPoints must be an integer from 0 to 10000"),
    ({"status": "SETTLED"}, "payment.status of a PAYMENT must be 'SETTLEMENT_PENDING'"),
    ({"netAmount": "41.91"}, "do not add up to amount '42.50' for a PAYMENT"),
    ({"fee": "42.51", "netAmount": "-0.01"}, "do not add up to amount '42.50' for a PAYMENT"),
    (
        {"type": "REFUND", "status": "REFUND_PENDING", "netAmount": "-42.50"},
        "do not add up to amount '42.50' for a REFUND",  # a refund charges no fee
    ),
]


@pytest.mark.parametrize(
    ("producer", "payment", "reason"),
    [("ValidatePayment", {**VALIDATED, **changes}, reason) for changes, reason in NOT_VALIDATED]
    + [("ProcessPayment", {**PROCESSED, **changes}, reason) for changes, reason in NOT_PROCESSED],
)
def test_a_payment_the_previous_step_did_not_produce_is_invalid_payment(
    producer: str, payment: dict[str, Any], reason: str
) -> None:
    check = as_validated if producer == "ValidatePayment" else as_processed
    with pytest.raises(InvalidPayment) as caught:
        check(payment)
    assert reason in str(caught.value)
    assert str(caught.value).endswith(f"(the step input must be {producer}'s output)")


@pytest.mark.parametrize(
    ("step_input", "reason"),
    [
        (None, "step input must be an object {'payment': {...}}, got null"),
        ({"Payload": {}}, "step input has no payment: expected {'payment': {...}}, got the keys"),
    ],
)
def test_a_step_input_without_a_payment_is_invalid_payment(step_input: Any, reason: str) -> None:
    with pytest.raises(InvalidPayment, match="step input") as caught:
        payment_in(step_input, "ValidatePayment")
    assert str(caught.value).startswith(reason)


# --- the DynamoDB item -----------------------------------------------------------------------


def test_the_item_is_dynamodb_json_with_amounts_as_exact_numbers() -> None:
    payment = {
        **PROCESSED,
        "amount": "1.250",
        "currency": "KWD",
        "fee": "0.018",
        "netAmount": "1.232",
        "riskScore": 20,
        "riskReasons": ["card country FR differs from the merchant's country DE"],
        "flagged": False,
        "merchantCountry": None,
    }
    assert to_dynamodb_item(payment) == {
        "transactionId": {"S": "pay-20261102-000417"},
        "merchantId": {"S": "m-1001"},
        "amount": {"N": "1.250"},  # as written: the currency's scale, not a float's digits
        "currency": {"S": "KWD"},
        "type": {"S": "PAYMENT"},
        "occurredAt": {"S": "2026-11-02T09:41:55.187Z"},
        "cardCountry": {"S": "DE"},
        "fee": {"N": "0.018"},
        "netAmount": {"N": "1.232"},
        "feeBasisPoints": {"N": "140"},
        "status": {"S": "SETTLEMENT_PENDING"},
        "riskScore": {"N": "20"},
        "riskReasons": {"L": [{"S": "card country FR differs from the merchant's country DE"}]},
        "flagged": {"BOOL": False},
    }  # merchantCountry (None) is left out


def test_a_refunds_negative_net_amount_and_an_empty_list_are_kept_exactly() -> None:
    item = to_dynamodb_item({"netAmount": "-1500", "fee": "0", "riskReasons": []})
    assert item == {"netAmount": {"N": "-1500"}, "fee": {"N": "0"}, "riskReasons": {"L": []}}


def test_decimals_become_numbers_in_plain_notation() -> None:
    item = to_dynamodb_item({"a": Decimal("1.250"), "b": Decimal("1E+3"), "c": Decimal("-0.5")})
    assert item == {"a": {"N": "1.250"}, "b": {"N": "1000"}, "c": {"N": "-0.5"}}


def test_the_item_holds_no_float_anywhere() -> None:
    def no_float(text: str) -> Any:
        raise AssertionError(f"a JSON float {text} in the item")

    item = to_dynamodb_item(PROCESSED)
    json.loads(json.dumps(item), parse_float=no_float)  # every number is a string in "N"


@pytest.mark.parametrize(
    ("payment", "error", "reason"),
    [
        ({"amount": 42.5}, TypeError, "amount is a float (42.5): use a Decimal or a decimal"),
        ({"riskScore": 0.5}, TypeError, "riskScore is a float"),
        ({"amount": "42,50"}, ValueError, "amount '42,50' is not a decimal amount string"),
        ({"amount": "NaN"}, ValueError, "amount 'NaN' is not a decimal amount string"),
        ({"x": Decimal("NaN")}, ValueError, "x is NaN: DynamoDB numbers are finite"),
        ({"x": Decimal("1" * 39)}, ValueError, "x has 39 significant digits"),
        ({"x": {"nested": 1}}, TypeError, "x is dict: a payment item holds no such value"),
        ({"x": ["a", 1]}, TypeError, "x is list"),
    ],
)
def test_a_value_an_item_cannot_hold_exactly_is_refused(
    payment: dict[str, Any], error: type[Exception], reason: str
) -> None:
    with pytest.raises(error) as caught:
        to_dynamodb_item(payment)
    assert str(caught.value).startswith(reason)


def test_event_hash_is_equal_for_the_same_event_whatever_the_later_steps_added() -> None:
    from sluice_common.payments import event_hash

    validated = dict(VALIDATED)
    enriched = {**validated, "fee": "0.60", "netAmount": "41.90", "riskScore": 0}
    assert event_hash(enriched) == event_hash(dict(reversed(list(validated.items()))))
    assert event_hash({**validated, "amount": "42.51"}) != event_hash(validated)
    assert event_hash({**validated, "customerId": "c-1"}) != event_hash(validated)
