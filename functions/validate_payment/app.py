"""ValidatePayment handler: the payments workflow's first step, for one SQS record.

Input ``{"messageId": "<SQS message id>", "body": "<SQS body>"}``; output
``{"payment": <validated payment>}``. A rejected event raises InvalidPayment, which the
workflow dead-letters with the message as the reason.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from payment_validation import read_step_input, validate_body
from sluice_common.observability import logger
from sluice_common.payment_steps import bind_transaction, passed, payment_step

LOGGED = {"merchant_id": "merchantId", "currency": "currency", "payment_type": "type"}


@payment_step
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    validation = validate_body(read_step_input(event), now=datetime.now(UTC))
    payment = validation.payment
    bind_transaction(payment)  # before the warnings below, so they carry it too
    if validation.from_sns_envelope:
        logger.warning("body was an SNS envelope: is raw message delivery off on the queue?")
    if validation.ignored_fields:
        logger.info("unknown fields ignored", extra={"fields": list(validation.ignored_fields)})
    passed(payment, "PaymentsValidated", "payment validated", LOGGED)
    return {"payment": payment}
