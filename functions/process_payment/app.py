"""ProcessPayment handler: the payments workflow's second step.

Input ``{"payment": <ValidatePayment's payment>}`` (and optionally ``"messageId"``, logged);
output ``{"payment": <the payment + fee, netAmount, feeBasisPoints, status>}``. Reads the fee
rate from PAYMENT_FEE_BASIS_POINTS once per container.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from payment_processing import process_payment
from process_payment_settings import read_settings
from sluice_common.payment_steps import passed, payment_step
from sluice_common.payments import payment_in

LOGGED = {
    "currency": "currency",
    "payment_type": "type",
    "fee_basis_points": "feeBasisPoints",
    "status": "status",
}


@cache
def fee_basis_points() -> int:
    """The fee rate; FeeConfigurationError (every invocation, until it is fixed) if invalid."""
    return read_settings().fee_basis_points


@payment_step
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    rate = fee_basis_points()  # a configuration error fails before the payment is read
    payment = process_payment(payment_in(event, "ValidatePayment"), fee_basis_points=rate)
    passed(payment, "PaymentsProcessed", "payment processed", LOGGED)
    return {"payment": payment}
