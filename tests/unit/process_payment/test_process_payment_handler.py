"""The handler with the sample events from events/: its output is the enrich step's sample
input; the fee rate comes from PAYMENT_FEE_BASIS_POINTS, checked on a cold start."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from payment_processing import FeeConfigurationError
from sluice_common.errors import InvalidPayment
from sluice_local.handlers import Handler

Event = dict[str, Any]
SAMPLE_RATE = "140"  # the template's default PaymentFeeBasisPoints; the samples assume it


@pytest.fixture
def handler(fresh_handler: Callable[[], Handler], monkeypatch: pytest.MonkeyPatch) -> Handler:
    monkeypatch.setenv("PAYMENT_FEE_BASIS_POINTS", SAMPLE_RATE)
    return fresh_handler()


def test_the_sample_validated_payment_becomes_the_enrich_steps_sample_input(
    handler: Handler,
    sample_event: Callable[[str], Event],
    lambda_context: Any,
    logs: Callable[[], list[dict[str, Any]]],
    emitted_metrics: Callable[[], dict[str, Any]],
) -> None:
    output = handler(sample_event("process_payment_validated.json"), lambda_context)

    assert output == sample_event("enrich_payment_processed.json")
    assert emitted_metrics() == {"PaymentsProcessed": [1.0]}
    [line] = [line for line in logs() if line["message"] == "payment processed"]
    assert (line["transaction_id"], line["fee_basis_points"]) == ("pay-20261102-000417", 140)


def test_a_message_id_beside_the_payment_labels_the_log_lines(
    handler: Handler,
    sample_event: Callable[[str], Event],
    lambda_context: Any,
    logs: Callable[[], list[dict[str, Any]]],
) -> None:
    step_input = {**sample_event("process_payment_validated.json"), "messageId": "m-42"}
    handler(step_input, lambda_context)
    [line] = [line for line in logs() if line["message"] == "payment processed"]
    assert line["message_id"] == "m-42"


@pytest.mark.parametrize(
    ("step_input", "reason"),
    [
        ([], "step input must be an object {'payment': {...}}, got an array"),
        ({"validated": {}}, "step input has no payment: expected {'payment': {...}}"),
        ({"payment": {"amount": "1"}}, "payment.transactionId must be a non-empty string"),
    ],
)
def test_a_malformed_step_input_raises_invalid_payment_and_is_counted(
    handler: Handler,
    step_input: Any,
    reason: str,
    lambda_context: Any,
    logs: Callable[[], list[dict[str, Any]]],
    emitted_metrics: Callable[[], dict[str, Any]],
) -> None:
    with pytest.raises(InvalidPayment) as caught:
        handler(step_input, lambda_context)
    assert str(caught.value).startswith(reason)
    assert emitted_metrics() == {"PaymentsRejected": [1.0]}
    [warning] = [line for line in logs() if line["level"] == "WARNING"]
    assert warning["reason"] == str(caught.value)


@pytest.mark.parametrize("value", ["2.9%", "20000", "-1"])
def test_an_invalid_fee_rate_fails_every_invocation_until_it_is_fixed(
    value: str,
    fresh_handler: Callable[[], Handler],
    sample_event: Callable[[str], Event],
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PAYMENT_FEE_BASIS_POINTS", value)
    handler = fresh_handler()
    for _ in range(2):
        with pytest.raises(FeeConfigurationError, match="PAYMENT_FEE_BASIS_POINTS"):
            handler(sample_event("process_payment_validated.json"), lambda_context)

    monkeypatch.setenv("PAYMENT_FEE_BASIS_POINTS", SAMPLE_RATE)
    output = handler(sample_event("process_payment_validated.json"), lambda_context)
    assert output == sample_event("enrich_payment_processed.json")


def test_the_fee_rate_is_read_once_per_container(
    handler: Handler,
    sample_event: Callable[[str], Event],
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handler(sample_event("process_payment_validated.json"), lambda_context)
    monkeypatch.setenv("PAYMENT_FEE_BASIS_POINTS", "0")  # a new value needs a new container
    output = handler(sample_event("process_payment_validated.json"), lambda_context)
    assert output["payment"]["feeBasisPoints"] == 140


def test_an_unset_fee_rate_is_the_templates_default(
    fresh_handler: Callable[[], Handler],
    sample_event: Callable[[str], Event],
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PAYMENT_FEE_BASIS_POINTS", raising=False)
    output = fresh_handler()(sample_event("process_payment_validated.json"), lambda_context)
    assert output == sample_event("enrich_payment_processed.json")  # 140, as the samples assume
