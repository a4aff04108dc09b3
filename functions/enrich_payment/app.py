"""EnrichPayment handler: the payments workflow's third step.

Input ``{"payment": <ProcessPayment's payment>}`` (and optionally ``"messageId"``, logged);
output ``{"payment": <the payment + merchant details and risk>, "item": <it as a DynamoDB
item>}``: StorePayment writes ``item`` as it is. The reference data in ``reference/`` is read
and checked once per container.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from payment_enrichment import ReferenceData, enrich_payment, load_reference
from sluice_common.errors import InvalidPayment
from sluice_common.observability import bind_correlation, logger, metrics, tracer
from sluice_common.payments import message_id_in, payment_in, payment_item

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"


@cache
def reference_data() -> ReferenceData:
    return load_reference(REFERENCE_DIR)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_correlation(message_id=message_id_in(event))
    reference = reference_data()  # broken reference data fails before the payment is read
    try:
        payment = enrich_payment(payment_in(event, "ProcessPayment"), reference)
    except InvalidPayment as exc:
        metrics.add_metric(name="PaymentsRejected", unit=MetricUnit.Count, value=1)
        logger.warning("payment rejected", extra={"error": type(exc).__name__, "reason": str(exc)})
        raise
    logger.thread_safe_append_keys(transaction_id=payment["transactionId"])
    metrics.add_metric(name="PaymentsEnriched", unit=MetricUnit.Count, value=1)
    metrics.add_metric(
        name="HighRiskPayments", unit=MetricUnit.Count, value=int(payment["riskLevel"] == "HIGH")
    )
    logger.info(
        "payment enriched",
        extra={
            "merchant_id": payment["merchantId"],
            "mcc": payment["mcc"],
            "risk_score": payment["riskScore"],
            "risk_level": payment["riskLevel"],
            "risk_reasons": payment["riskReasons"],
        },
    )
    return {"payment": payment, "item": payment_item(payment)}
