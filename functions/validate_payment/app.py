"""ValidatePayment handler: the payments workflow's first step, for one SQS record.

Input ``{"messageId": "<SQS message id>", "body": "<SQS body>"}``; output
``{"payment": <validated payment>}``. A rejected event raises InvalidPayment, which the
workflow dead-letters with the message as the reason.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from payment_validation import read_step_input, validate_body
from sluice_common.errors import InvalidPayment
from sluice_common.observability import bind_correlation, logger, metrics, tracer
from sluice_common.payments import message_id_in


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_correlation(message_id=message_id_in(event))
    try:
        validation = validate_body(read_step_input(event), now=datetime.now(UTC))
    except InvalidPayment as exc:
        metrics.add_metric(name="PaymentsRejected", unit=MetricUnit.Count, value=1)
        logger.warning("payment rejected", extra={"error": type(exc).__name__, "reason": str(exc)})
        raise
    payment = validation.payment
    logger.thread_safe_append_keys(transaction_id=payment["transactionId"])
    if validation.from_sns_envelope:
        logger.warning("body was an SNS envelope: is raw message delivery off on the queue?")
    if validation.ignored_fields:
        logger.info("unknown fields ignored", extra={"fields": list(validation.ignored_fields)})
    metrics.add_metric(name="PaymentsValidated", unit=MetricUnit.Count, value=1)
    logger.info(
        "payment validated",
        extra={
            "merchant_id": payment["merchantId"],
            "currency": payment["currency"],
            "payment_type": payment["type"],
        },
    )
    return {"payment": payment}
