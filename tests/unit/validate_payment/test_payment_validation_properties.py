"""Any amount already at its currency's scale passes validation unchanged, as a string or as a
JSON number; any amount with more places than the scale is refused. Case counts come from the
hypothesis profile (tests/conftest.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payment_validation import validate_body
from sluice_common.currencies import MINOR_UNITS
from sluice_common.errors import InvalidPayment
from sluice_common.payments import MAX_AMOUNT

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


@st.composite
def amounts_at_scale(draw: st.DrawFn) -> tuple[str, str]:
    """(currency, amount string with exactly the currency's decimal places), 0 < amount <= max."""
    currency = draw(st.sampled_from(sorted(MINOR_UNITS)))
    scale = MINOR_UNITS[currency]
    minor = draw(
        st.one_of(
            st.integers(1, 10**4),  # small amounts: "0.01", "1.250"
            st.integers(1, int(MAX_AMOUNT) * 10**scale),
        )
    )
    return currency, f"{Decimal(minor).scaleb(-scale):f}"


def body(currency: str, amount_json: str) -> str:
    event = {
        "transactionId": "pay-1",
        "merchantId": "m-1001",
        "amount": "AMOUNT",
        "currency": currency,
        "type": "PAYMENT",
        "occurredAt": "2026-11-02T09:41:55.187Z",
    }
    return json.dumps(event).replace('"AMOUNT"', amount_json)


@given(amounts_at_scale())
def test_an_amount_at_the_currency_scale_round_trips_unchanged(case: tuple[str, str]) -> None:
    currency, amount = case
    assert validate_body(body(currency, json.dumps(amount)), now=NOW).payment["amount"] == amount


@given(amounts_at_scale())
def test_the_same_amount_as_a_json_number_gives_the_same_string(case: tuple[str, str]) -> None:
    currency, amount = case
    assert validate_body(body(currency, amount), now=NOW).payment["amount"] == amount


@given(amounts_at_scale(), st.integers(1, 9))
def test_a_digit_past_the_currency_scale_is_refused(case: tuple[str, str], digit: int) -> None:
    currency, amount = case
    longer = f"{amount}{digit}" if "." in amount else f"{amount}.{digit}"
    with pytest.raises(InvalidPayment, match=f"; {currency} allows {MINOR_UNITS[currency]}$"):
        validate_body(body(currency, json.dumps(longer)), now=NOW)
