"""The handler with the sample events from events/: its output is the enrich step's sample
input; the fee rate comes from PAYMENT_FEE_BASIS_POINTS, checked on a cold start."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from payment_processing import FeeConfigurationError
from sluice_local.handlers import Handler
from testkit.step_runs import StepRun, rejected

SAMPLE_RATE = "140"  # the template's default PaymentFeeBasisPoints; the samples assume it
VALIDATED, PROCESSED = "process_payment_validated.json", "enrich_payment_processed.json"


@pytest.fixture
def cold_start(
    fresh_handler: Callable[[], Handler], request: pytest.FixtureRequest
) -> Callable[[], StepRun]:
    """A new container, reading PAYMENT_FEE_BASIS_POINTS as it is set now."""
    return lambda: StepRun.of(request, fresh_handler())


@pytest.fixture
def run(cold_start: Callable[[], StepRun], monkeypatch: pytest.MonkeyPatch) -> StepRun:
    monkeypatch.setenv("PAYMENT_FEE_BASIS_POINTS", SAMPLE_RATE)
    return cold_start()


def test_the_sample_validated_payment_becomes_the_enrich_steps_sample_input(
    run: StepRun,
) -> None:
    output = run(run.sample(VALIDATED))

    assert output == run.sample(PROCESSED)
    assert run.metrics() == {"PaymentsProcessed": [1.0]}
    [line] = run.logged("payment processed")
    assert (line["transaction_id"], line["fee_basis_points"]) == ("pay-20261102-000417", 140)


def test_a_message_id_beside_the_payment_labels_the_log_lines(run: StepRun) -> None:
    run({**run.sample(VALIDATED), "messageId": "m-42"})
    [line] = run.logged("payment processed")
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
    run: StepRun, step_input: Any, reason: str
) -> None:
    assert str(rejected(run, step_input)).startswith(reason)


@pytest.mark.parametrize("value", ["2.9%", "20000", "-1"])
def test_an_invalid_fee_rate_fails_every_invocation_until_it_is_fixed(
    value: str, cold_start: Callable[[], StepRun], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYMENT_FEE_BASIS_POINTS", value)
    run = cold_start()
    for _ in range(2):
        with pytest.raises(FeeConfigurationError, match="PAYMENT_FEE_BASIS_POINTS"):
            run(run.sample(VALIDATED))

    monkeypatch.setenv("PAYMENT_FEE_BASIS_POINTS", SAMPLE_RATE)
    assert run(run.sample(VALIDATED)) == run.sample(PROCESSED)


def test_an_unset_fee_rate_is_the_templates_default(
    cold_start: Callable[[], StepRun], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PAYMENT_FEE_BASIS_POINTS", raising=False)
    run = cold_start()
    assert run(run.sample(VALIDATED)) == run.sample(PROCESSED)  # 140, as the samples assume


def test_the_fee_rate_is_read_once_per_container(
    run: StepRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(run.sample(VALIDATED))
    monkeypatch.setenv("PAYMENT_FEE_BASIS_POINTS", "0")  # a new value needs a new container
    assert run(run.sample(VALIDATED))["payment"]["feeBasisPoints"] == 140
