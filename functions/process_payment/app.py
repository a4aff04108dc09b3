"""ProcessPayment handler: the payments workflow's second step.

Input ``{"payment": <ValidatePayment's payment>}`` (and optionally ``"messageId"``, logged);
output ``{"payment": <the payment + fee, netAmount, feeBasisPoints, status>}``. Reads the fee
rate from PAYMENT_FEE_BASIS_POINTS once per container.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from payment_processing import FEE_ENV, fee_basis_points_from, process_payment
from sluice_common.errors import InvalidPayment
from sluice_common.observability import bind_correlation, logger, metrics, tracer
from sluice_common.payments import message_id_in, payment_in


@cache
def fee_basis_points() -> int:
    """The fee rate; FeeConfigurationError (every invocation, until it is fixed) if invalid."""
    return fee_basis_points_from(os.environ.get(FEE_ENV))


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_correlation(message_id=message_id_in(event))
    rate = fee_basis_points()  # a configuration error fails before the payment is read
    try:
        payment = process_payment(payment_in(event, "ValidatePayment"), fee_basis_points=rate)
    except InvalidPayment as exc:
        metrics.add_metric(name="PaymentsRejected", unit=MetricUnit.Count, value=1)
        logger.warning("payment rejected", extra={"error": type(exc).__name__, "reason": str(exc)})
        raise
    logger.thread_safe_append_keys(transaction_id=payment["transactionId"])
    metrics.add_metric(name="PaymentsProcessed", unit=MetricUnit.Count, value=1)
    logger.info(
        "payment processed",
        extra={
            "currency": payment["currency"],
            "payment_type": payment["type"],
            "fee_basis_points": payment["feeBasisPoints"],
            "status": payment["status"],
        },
    )
    return {"payment": payment}
