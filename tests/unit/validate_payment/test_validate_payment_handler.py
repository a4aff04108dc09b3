"""The handler with the sample events from events/ (what `sam local invoke -e` sends): its
output is the next step's sample input; rejections raise InvalidPayment and are counted."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sluice_common.errors import InvalidPayment
from sluice_local.handlers import Handler
from testkit.step_runs import StepRun, rejected


@pytest.fixture
def run(fresh_handler: Callable[[], Handler], request: pytest.FixtureRequest) -> StepRun:
    return StepRun.of(request, fresh_handler())


def message(body: str, message_id: str = "5f2b8e1c-3d4a-4b6e-9c7d-0a1b2c3d4e5f") -> dict[str, Any]:
    return {"messageId": message_id, "body": body}


def published(run: StepRun, **changes: Any) -> str:
    """The sample payment event as an SQS body, with ``changes``."""
    return json.dumps({**run.sample("payment_event.json"), **changes})


def test_the_sample_message_becomes_the_process_steps_sample_input(run: StepRun) -> None:
    output = run(run.sample("validate_payment_message.json"))

    assert output == run.sample("process_payment_validated.json")
    assert run.metrics() == {"PaymentsValidated": [1.0]}
    [line] = run.logged("payment validated")
    assert line["message_id"] == "5f2b8e1c-3d4a-4b6e-9c7d-0a1b2c3d4e5f"
    assert line["transaction_id"] == "pay-20261102-000417"


def test_the_sample_message_carries_the_published_sample_event(run: StepRun) -> None:
    body = run.sample("validate_payment_message.json")["body"]
    assert json.loads(body) == run.sample("payment_event.json")


def test_a_redelivered_event_validates_to_the_same_payment(run: StepRun) -> None:
    original, duplicate = (
        run.sample("payment_event.json"),
        run.sample("payment_event_duplicate.json"),
    )
    assert duplicate == original  # the producer's redelivery: identical content
    first = run(message(json.dumps(original)))
    again = run(message(json.dumps(duplicate), "another-message-id"))
    assert first == again


def test_the_invalid_sample_event_is_rejected_with_its_reason_and_counted(run: StepRun) -> None:
    refused = rejected(run, message(json.dumps(run.sample("payment_event_invalid.json"))))
    assert str(refused) == "amount '19.999' has 3 decimal places; EUR allows 2"


def test_an_sns_envelope_body_is_unwrapped_and_the_misconfiguration_logged(run: StepRun) -> None:
    body = run.sample("validate_payment_message.json")["body"]
    envelope = {"Type": "Notification", "MessageId": "sns-1", "Message": body}

    output = run(message(json.dumps(envelope)))

    assert output == run.sample("process_payment_validated.json")
    assert any("raw message delivery" in line["message"] for line in run.logs())


def test_unknown_fields_are_logged_by_name(run: StepRun) -> None:
    output = run(message(published(run, channel="web")))

    assert "channel" not in output["payment"]
    [line] = run.logged("unknown fields ignored")
    assert line["fields"] == ["channel"]


def test_the_handler_checks_occurred_at_against_the_current_time(run: StepRun) -> None:
    soon = datetime.now(UTC) + timedelta(hours=1)
    with pytest.raises(InvalidPayment, match="is more than 5 minutes in the future"):
        run(message(published(run, occurredAt=soon.isoformat())))


@pytest.mark.parametrize(
    ("step_input", "reason"),
    [
        ({"messageId": "m-1"}, "step input has no body"),
        ({"messageId": "m-1", "body": {"amount": "1"}}, "step input's body must be the SQS body"),
        ({"messageId": "m-1", "body": ""}, "body is empty"),
    ],
)
def test_a_malformed_step_input_raises_invalid_payment_and_is_counted(
    run: StepRun, step_input: dict[str, Any], reason: str
) -> None:
    assert str(rejected(run, step_input)).startswith(reason)
