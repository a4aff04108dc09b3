"""A card number sent in a checked field never reaches a rejection message in full: the message
becomes the dead-letter reason (sluice-reason), a log line, a Splunk event and X-Ray's cause."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from test_payment_validation import NOW, event

from payment_validation import validate_body
from sluice_common.errors import InvalidPayment
from sluice_common.payments import as_validated, payment_in

TEST_PAN = "4111111111111111"  # Visa's published test number

PAN_IN_FIELD = {
    "transactionId": TEST_PAN + "!",
    "merchantId": f"m {TEST_PAN}",
    "customerId": int(TEST_PAN),
    "amount": TEST_PAN,
    "currency": TEST_PAN,
    "cardCountry": "4111 1111 1111 1111",
    "occurredAt": "4111-1111-1111-1111",
    "type": TEST_PAN,
    "schemaVersion": int(TEST_PAN),
    "description": 4111111111111111.0,
}


def _rejection(body: str) -> str:
    with pytest.raises(InvalidPayment) as caught:
        validate_body(body, now=NOW)
    return str(caught.value)


@pytest.mark.parametrize(("field", "value"), PAN_IN_FIELD.items(), ids=list(PAN_IN_FIELD))
def test_a_card_number_in_a_checked_field_is_masked_in_the_reason(field: str, value: Any) -> None:
    reason = _rejection(json.dumps(event(**{field: value})))

    assert field in reason  # still says which field is wrong
    # No four digits of it in a row (the amount's limit, 999999999999, is not the number).
    assert "1111" not in reason.replace(" ", "").replace("-", "")


def test_a_card_number_before_the_cut_is_masked_whole() -> None:
    # 30 characters, then the number: cut first, 7 digits would show; masked first, none.
    reason = _rejection(json.dumps(event(transactionId="x" * 30 + TEST_PAN + "!")))

    assert not re.search(r"\d", reason.split("contains", 1)[0]), reason


def test_a_card_number_as_a_field_name_is_masked_in_the_ignored_fields() -> None:
    validation = validate_body(json.dumps(event(**{TEST_PAN: "x"})), now=NOW)

    assert validation.ignored_fields == ("*" * 16,)


def test_a_card_number_in_a_later_steps_contract_check_is_masked() -> None:
    payment = validate_body(json.dumps(event()), now=NOW).payment
    with pytest.raises(InvalidPayment) as caught:
        as_validated({**payment, "merchantId": TEST_PAN + " "})

    assert "merchantId" in str(caught.value)
    assert TEST_PAN not in str(caught.value)


def test_a_card_number_as_a_step_input_key_is_masked() -> None:
    with pytest.raises(InvalidPayment) as caught:
        payment_in({TEST_PAN: {}}, "ValidatePayment")

    assert "*" * 16 in str(caught.value)
    assert TEST_PAN not in str(caught.value)
