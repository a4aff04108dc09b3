"""A validated payment's fee, net amount and settlement status: deterministic, no I/O.

- PAYMENT: ``fee`` = amount x ``feeBasisPoints`` / 10,000, rounded half-even (banker's
  rounding) to the currency's minor unit; ``netAmount`` = amount - fee; ``status``
  ``SETTLEMENT_PENDING``.
- REFUND: no fee (``fee`` 0 at the currency's scale, ``feeBasisPoints`` 0), ``netAmount`` =
  -amount; ``status`` ``REFUND_PENDING``.

All amounts stay strings at the currency's scale (``sluice_common.payments``). The same payment
and rate always give the same result, so a redelivered event yields an identical item.

The rate comes from ``PAYMENT_FEE_BASIS_POINTS`` (an integer 0..10,000; 290 = 2.90 %), read by
the handler with :mod:`process_payment_settings` and passed in.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Final

from sluice_common.payments import (
    MAX_FEE_BASIS_POINTS,
    MINOR_UNITS,
    MONEY,
    STATUS_BY_TYPE,
    ProcessedPayment,
    amount_text,
    as_validated,
    quantum,
)

BASIS_POINTS_PER_UNIT: Final = Decimal(10_000)


class FeeConfigurationError(Exception):
    """PAYMENT_FEE_BASIS_POINTS is not an integer from 0 to 10,000 (the workflow's Catch keeps
    the event for redelivery on this name)."""


def fee_for(amount: Decimal, fee_basis_points: int, scale: int) -> Decimal:
    """amount x rate / 10,000, rounded half-even to ``scale`` decimal places."""
    exact = MONEY.divide(MONEY.multiply(amount, Decimal(fee_basis_points)), BASIS_POINTS_PER_UNIT)
    return exact.quantize(quantum(scale), rounding=ROUND_HALF_EVEN, context=MONEY)


def process_payment(payment: object, *, fee_basis_points: int) -> ProcessedPayment:
    """The payment with its fee, net amount and status; InvalidPayment if ``payment`` is not
    ValidatePayment's output."""
    if not 0 <= fee_basis_points <= MAX_FEE_BASIS_POINTS:
        raise ValueError(f"fee_basis_points {fee_basis_points} is outside 0..10000")
    validated = as_validated(payment)
    scale = MINOR_UNITS[validated["currency"]]
    amount = Decimal(validated["amount"])
    if validated["type"] == "REFUND":
        rate, fee, net = 0, Decimal(0), -amount
    else:
        rate = fee_basis_points
        fee = fee_for(amount, rate, scale)
        net = MONEY.subtract(amount, fee)
    return {
        **validated,
        "fee": amount_text(fee, scale),
        "netAmount": amount_text(net, scale),
        "feeBasisPoints": rate,
        "status": STATUS_BY_TYPE[validated["type"]],
    }
