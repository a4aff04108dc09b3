"""A validated payment's fee (half-even at the currency's scale), net amount and status; the
fee rate's configuration is checked with a reason."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from payment_processing import FeeConfigurationError, fee_for, process_payment
from process_payment_settings import ProcessPaymentSettings, read_settings
from sluice_common.errors import InvalidPayment
from sluice_common.settings import declared


def validated(amount: str = "42.50", currency: str = "EUR", **changes: Any) -> dict[str, Any]:
    return {
        "transactionId": "pay-20261102-000417",
        "merchantId": "m-1001",
        "amount": amount,
        "currency": currency,
        "type": "PAYMENT",
        "occurredAt": "2026-11-02T09:41:55.187Z",
        **changes,
    }


def test_a_payment_gets_its_fee_net_amount_rate_and_status() -> None:
    assert process_payment(validated(cardCountry="DE"), fee_basis_points=140) == {
        **validated(cardCountry="DE"),
        "fee": "0.60",  # 42.50 x 1.40 % = 0.595, a tie: half-even goes to 0.60
        "netAmount": "41.90",
        "feeBasisPoints": 140,
        "status": "SETTLEMENT_PENDING",
    }


@pytest.mark.parametrize(
    ("currency", "amount", "basis_points", "exact", "fee", "net"),
    [
        # scale 0: x.5 yen goes to the even yen
        ("JPY", "250", 100, "2.5", "2", "248"),
        ("JPY", "350", 100, "3.5", "4", "346"),
        # scale 2: x.xx5 goes to the even cent (half-up would give 0.59 and 0.03)
        ("EUR", "58.50", 100, "0.585", "0.58", "57.92"),
        ("EUR", "2.50", 100, "0.025", "0.02", "2.48"),
        ("EUR", "42.50", 140, "0.595", "0.60", "41.90"),
        # scale 3: x.xxx5 goes to the even fils
        ("KWD", "0.250", 100, "0.0025", "0.002", "0.248"),
        ("KWD", "0.350", 100, "0.0035", "0.004", "0.346"),
        # scale 4
        ("CLF", "0.0250", 100, "0.00025", "0.0002", "0.0248"),
        ("CLF", "0.0350", 100, "0.00035", "0.0004", "0.0346"),
    ],
)
def test_the_fee_rounds_half_to_even_at_the_currencys_scale(
    currency: str, amount: str, basis_points: int, exact: str, fee: str, net: str
) -> None:
    assert Decimal(amount) * basis_points / 10_000 == Decimal(exact)  # the case is a tie
    processed = process_payment(validated(amount, currency), fee_basis_points=basis_points)
    assert (processed["fee"], processed["netAmount"]) == (fee, net)


def test_a_fee_off_the_tie_rounds_to_the_nearest_minor_unit() -> None:
    assert fee_for(Decimal("10.01"), 290, 2) == Decimal("0.29")  # 0.29029
    assert fee_for(Decimal("10.03"), 295, 2) == Decimal("0.30")  # 0.295885


@pytest.mark.parametrize(
    ("basis_points", "fee", "net"), [(0, "0.00", "42.50"), (10_000, "42.50", "0.00")]
)
def test_the_rate_bounds_charge_nothing_or_everything(
    basis_points: int, fee: str, net: str
) -> None:
    processed = process_payment(validated(), fee_basis_points=basis_points)
    assert (processed["fee"], processed["netAmount"]) == (fee, net)


@pytest.mark.parametrize(
    ("currency", "amount", "fee", "net"),
    [
        ("EUR", "19.99", "0.00", "-19.99"),
        ("JPY", "1500", "0", "-1500"),
        ("KWD", "1.250", "0.000", "-1.250"),
    ],
)
def test_a_refund_has_no_fee_and_a_negative_net_amount_at_the_currencys_scale(
    currency: str, amount: str, fee: str, net: str
) -> None:
    processed = process_payment(validated(amount, currency, type="REFUND"), fee_basis_points=140)
    assert (processed["fee"], processed["netAmount"]) == (fee, net)
    assert (processed["feeBasisPoints"], processed["status"]) == (0, "REFUND_PENDING")


def test_the_same_payment_and_rate_always_give_the_same_result() -> None:
    first = process_payment(validated(), fee_basis_points=140)
    assert process_payment(validated(), fee_basis_points=140) == first


def test_fields_outside_the_contract_are_not_passed_on() -> None:
    processed = process_payment(validated(debug="x"), fee_basis_points=140)
    assert "debug" not in processed


@pytest.mark.parametrize(
    ("payment", "reason"),
    [
        ("a string", "payment must be an object, got a string ('a string')"),
        (validated(amount="42.5"), "payment.amount '42.5' is not a positive amount with exactly"),
        (validated(currency="XYZ"), "payment.currency 'XYZ' is not an ISO 4217 code"),
        ({**validated(), "transactionId": None}, "payment.transactionId must be a non-empty"),
    ],
)
def test_a_payment_that_did_not_come_from_validation_is_invalid_payment(
    payment: object, reason: str
) -> None:
    with pytest.raises(InvalidPayment) as caught:
        process_payment(payment, fee_basis_points=140)
    assert str(caught.value).startswith(reason)


@pytest.mark.parametrize(("value", "rate"), [("0", 0), ("140", 140), ("10000", 10_000)])
def test_the_fee_rate_is_read_from_its_environment_value(value: str, rate: int) -> None:
    assert read_settings({"PAYMENT_FEE_BASIS_POINTS": value}).fee_basis_points == rate


@pytest.mark.parametrize("env", [{}, {"PAYMENT_FEE_BASIS_POINTS": ""}])
def test_an_unset_fee_rate_is_the_templates_default(env: dict[str, str]) -> None:
    # The template always passes PaymentFeeBasisPoints; its Default (140) is the one default.
    assert read_settings(env).fee_basis_points == 140
    assert declared(ProcessPaymentSettings)["fee_basis_points"].parameter == "PaymentFeeBasisPoints"


NOT_WHOLE = [(value, "is not a whole number") for value in ("abc", "1.5", "1e3", "2.9%")]


@pytest.mark.parametrize(
    ("value", "problem"),
    [*NOT_WHOLE, ("-5", "is below the minimum 0"), ("10001", "is above the maximum 10000")],
)
def test_an_invalid_fee_rate_is_a_configuration_error_with_reason(value: str, problem: str) -> None:
    with pytest.raises(FeeConfigurationError) as caught:
        read_settings({"PAYMENT_FEE_BASIS_POINTS": value})
    assert f"PAYMENT_FEE_BASIS_POINTS={value!r} {problem}" in str(caught.value)
    assert str(caught.value).endswith("(template parameter PaymentFeeBasisPoints)")


def test_a_rate_outside_0_to_10000_is_refused_by_the_domain_function() -> None:
    with pytest.raises(ValueError, match=r"fee_basis_points 10001 is outside 0\.\.10000"):
        process_payment(validated(), fee_basis_points=10_001)
