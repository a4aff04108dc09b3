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
from sluice_common.observability import metrics
from sluice_common.payment_steps import passed, payment_step
from sluice_common.payments import payment_in, payment_item

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
LOGGED = {
    "merchant_id": "merchantId",
    "mcc": "mcc",
    "risk_score": "riskScore",
    "risk_level": "riskLevel",
    "risk_reasons": "riskReasons",
}


@cache
def reference_data() -> ReferenceData:
    return load_reference(REFERENCE_DIR)


@payment_step
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    reference = reference_data()  # broken reference data fails before the payment is read
    payment = enrich_payment(payment_in(event, "ProcessPayment"), reference)
    high_risk = int(payment["riskLevel"] == "HIGH")
    metrics.add_metric(name="HighRiskPayments", unit=MetricUnit.Count, value=high_risk)
    passed(payment, "PaymentsEnriched", "payment enriched", LOGGED)
    return {"payment": payment, "item": payment_item(payment)}
