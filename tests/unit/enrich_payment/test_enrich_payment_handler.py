"""The handler with the sample processed payment from events/: the enriched payment and the
exact DynamoDB item StorePayment writes; reference data read once per container."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import pytest

from sluice_local.handlers import Handler
from testkit.sample_events import ENRICHED_AT_M1001
from testkit.step_runs import StepRun, rejected

PROCESSED = "enrich_payment_processed.json"

SAMPLE_ITEM = {
    "transactionId": {"S": "pay-20261102-000417"},
    "merchantId": {"S": "m-1001"},
    "amount": {"N": "42.50"},
    "currency": {"S": "EUR"},
    "type": {"S": "PAYMENT"},
    "occurredAt": {"S": "2026-11-02T09:41:55.187Z"},
    "customerId": {"S": "c-88412"},
    "cardCountry": {"S": "DE"},
    "description": {"S": "Weekly groceries"},
    "schemaVersion": {"N": "1"},
    "fee": {"N": "0.60"},
    "netAmount": {"N": "41.90"},
    "feeBasisPoints": {"N": "140"},
    "status": {"S": "SETTLEMENT_PENDING"},
    "merchantCategory": {"S": "GROCERY"},
    "mcc": {"S": "5411"},
    "riskScore": {"N": "0"},
    "riskLevel": {"S": "LOW"},
    "riskReasons": {"L": []},
    "merchantName": {"S": "Frischmarkt Berlin GmbH"},
    "merchantCountry": {"S": "DE"},
    # Pinned: stored items keep it, so a change would make every redelivery look like a
    # different event reusing the transactionId (ConflictingPayment).
    "eventHash": {"S": "12406701ccdf5a4b7bbfddfa599b3107f9b954efd8213f06bdbe06d5bd540739"},
}


@pytest.fixture
def run(fresh_handler: Callable[[], Handler], request: pytest.FixtureRequest) -> StepRun:
    return StepRun.of(request, fresh_handler())


def test_the_sample_processed_payment_is_enriched_into_the_item_to_store(run: StepRun) -> None:
    step_input = run.sample(PROCESSED)
    output = run(step_input)

    assert output["payment"] == {**step_input["payment"], **ENRICHED_AT_M1001}
    assert output["item"] == SAMPLE_ITEM
    assert set(output) == {"payment", "item"}
    assert run.metrics() == {"PaymentsEnriched": [1.0], "HighRiskPayments": [0.0]}
    [line] = run.logged("payment enriched")
    assert (line["transaction_id"], line["risk_level"]) == ("pay-20261102-000417", "LOW")


def test_the_output_survives_the_lambda_runtimes_json_with_no_float(run: StepRun) -> None:
    output = run(run.sample(PROCESSED))

    def no_float(text: str) -> Any:
        raise AssertionError(f"a float {text} in the step output")

    assert json.loads(json.dumps(output), parse_float=no_float) == output


def test_a_high_risk_payment_is_counted(run: StepRun) -> None:
    gambling = {
        "merchantId": "m-1007",  # gambling, typical 100.00 EUR, in MT
        "amount": "1000.00",
        "fee": "14.00",
        "netAmount": "986.00",
    }
    output = run({"payment": {**run.sample(PROCESSED)["payment"], **gambling}})

    assert (output["payment"]["riskScore"], output["payment"]["riskLevel"]) == (100, "HIGH")
    assert output["item"]["riskScore"] == {"N": "100"}
    assert run.metrics() == {"PaymentsEnriched": [1.0], "HighRiskPayments": [1.0]}


@pytest.mark.parametrize(
    ("step_input", "reason"),
    [
        ("payment", "step input must be an object {'payment': {...}}, got a string ('payment')"),
        ({"processed": {}}, "step input has no payment: expected {'payment': {...}}"),
        ({"payment": {"amount": "42.50"}}, "payment.transactionId must be a non-empty string"),
    ],
)
def test_a_malformed_step_input_raises_invalid_payment_and_is_counted(
    run: StepRun, step_input: Any, reason: str
) -> None:
    refused = str(rejected(run, step_input))
    assert refused.startswith(reason)
    assert refused.endswith("(the step input must be ProcessPayment's output)")


def test_the_reference_data_is_read_once_per_container(run: StepRun) -> None:
    app = sys.modules[run.handler.__module__]  # this container's instance of app.py
    for _ in range(3):
        run(run.sample(PROCESSED))
    info = app.reference_data.cache_info()
    assert (info.misses, info.hits) == (1, 2)
