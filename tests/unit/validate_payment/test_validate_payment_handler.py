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

Event = dict[str, Any]


@pytest.fixture
def handler(fresh_handler: Callable[[], Handler]) -> Handler:
    return fresh_handler()


def message(body: str, message_id: str = "5f2b8e1c-3d4a-4b6e-9c7d-0a1b2c3d4e5f") -> Event:
    return {"messageId": message_id, "body": body}


def test_the_sample_message_becomes_the_process_steps_sample_input(
    handler: Handler,
    sample_event: Callable[[str], Event],
    lambda_context: Any,
    logs: Callable[[], list[dict[str, Any]]],
    emitted_metrics: Callable[[], dict[str, Any]],
) -> None:
    output = handler(sample_event("validate_payment_message.json"), lambda_context)

    assert output == sample_event("process_payment_validated.json")
    assert emitted_metrics() == {"PaymentsValidated": [1.0]}
    [line] = [line for line in logs() if line["message"] == "payment validated"]
    assert line["message_id"] == "5f2b8e1c-3d4a-4b6e-9c7d-0a1b2c3d4e5f"
    assert line["transaction_id"] == "pay-20261102-000417"


def test_the_sample_message_carries_the_published_sample_event(
    sample_event: Callable[[str], Event],
) -> None:
    body = sample_event("validate_payment_message.json")["body"]
    assert json.loads(body) == sample_event("payment_event.json")


def test_a_redelivered_event_validates_to_the_same_payment(
    handler: Handler, sample_event: Callable[[str], Event], lambda_context: Any
) -> None:
    original, duplicate = (
        sample_event("payment_event.json"),
        sample_event("payment_event_duplicate.json"),
    )
    assert duplicate == original  # the producer's redelivery: identical content
    first = handler(message(json.dumps(original)), lambda_context)
    again = handler(message(json.dumps(duplicate), "another-message-id"), lambda_context)
    assert first == again


def test_the_invalid_sample_event_is_rejected_with_its_reason_and_counted(
    handler: Handler,
    sample_event: Callable[[str], Event],
    lambda_context: Any,
    logs: Callable[[], list[dict[str, Any]]],
    emitted_metrics: Callable[[], dict[str, Any]],
) -> None:
    body = json.dumps(sample_event("payment_event_invalid.json"))
    with pytest.raises(InvalidPayment) as caught:
        handler(message(body), lambda_context)

    assert str(caught.value) == "amount '19.999' has 3 decimal places; EUR allows 2"
    assert emitted_metrics() == {"PaymentsRejected": [1.0]}
    [warning] = [line for line in logs() if line["level"] == "WARNING"]
    assert (warning["message"], warning["error"]) == ("payment rejected", "InvalidPayment")
    assert warning["reason"] == str(caught.value)


def test_an_sns_envelope_body_is_unwrapped_and_the_misconfiguration_logged(
    handler: Handler,
    sample_event: Callable[[str], Event],
    lambda_context: Any,
    logs: Callable[[], list[dict[str, Any]]],
) -> None:
    published = sample_event("validate_payment_message.json")["body"]
    envelope = {"Type": "Notification", "MessageId": "sns-1", "Message": published}

    output = handler(message(json.dumps(envelope)), lambda_context)

    assert output == sample_event("process_payment_validated.json")
    assert any("raw message delivery" in line["message"] for line in logs())


def test_unknown_fields_are_logged_by_name(
    handler: Handler,
    sample_event: Callable[[str], Event],
    lambda_context: Any,
    logs: Callable[[], list[dict[str, Any]]],
) -> None:
    published = {**sample_event("payment_event.json"), "channel": "web"}
    output = handler(message(json.dumps(published)), lambda_context)

    assert "channel" not in output["payment"]
    [line] = [line for line in logs() if line["message"] == "unknown fields ignored"]
    assert line["fields"] == ["channel"]


def test_the_handler_checks_occurred_at_against_the_current_time(
    handler: Handler, sample_event: Callable[[str], Event], lambda_context: Any
) -> None:
    soon = datetime.now(UTC) + timedelta(hours=1)
    published = {**sample_event("payment_event.json"), "occurredAt": soon.isoformat()}
    with pytest.raises(InvalidPayment, match="is more than 5 minutes in the future"):
        handler(message(json.dumps(published)), lambda_context)


@pytest.mark.parametrize(
    ("step_input", "reason"),
    [
        ({"messageId": "m-1"}, "step input has no body"),
        ({"messageId": "m-1", "body": {"amount": "1"}}, "step input's body must be the SQS body"),
        ({"messageId": "m-1", "body": ""}, "body is empty"),
    ],
)
def test_a_malformed_step_input_raises_invalid_payment_and_is_counted(
    handler: Handler,
    step_input: Event,
    reason: str,
    lambda_context: Any,
    logs: Callable[[], list[dict[str, Any]]],
    emitted_metrics: Callable[[], dict[str, Any]],
) -> None:
    with pytest.raises(InvalidPayment, match=reason):
        handler(step_input, lambda_context)
    assert emitted_metrics() == {"PaymentsRejected": [1.0]}
