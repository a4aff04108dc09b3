"""The handler with the sample awslogs event: the alert reaches the alarm topic (moto SNS, read
back through a subscribed SQS queue, as any subscriber would see it)."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable
from typing import Any

import pytest

from sluice_common.alerts import Alert
from sluice_common.errors import MalformedEvent
from sluice_local.handlers import Handler

Event = dict[str, Any]


@pytest.fixture
def deliver(
    fresh_handler: Callable[[], Handler],
    topic: Any,
    monkeypatch: pytest.MonkeyPatch,
    lambda_context: Any,
) -> Callable[[Event], Any]:
    """Hands one subscription delivery to a cold-started handler that publishes to ``topic``."""
    monkeypatch.setenv("ALERT_TOPIC_ARN", topic.arn)
    handler = fresh_handler()
    return lambda event: handler(event, lambda_context)


def test_the_sample_execution_failure_reaches_the_alarm_topic(
    deliver: Callable[[Event], Any],
    topic: Any,
    sample_event: Callable[[str], Event],
    logs: Callable[[], list[dict[str, Any]]],
    emitted_metrics: Callable[[], dict[str, Any]],
) -> None:
    outcome = deliver(sample_event("execution_alert_logs.json"))

    # The sample holds the TaskFailed that led to the failure, then the ExecutionFailed.
    assert outcome == {"published": 1, "ignored": {"TaskFailed": 1}, "unparseable": 0}
    [envelope] = topic.received()
    assert envelope["Subject"] == "Sluice drain execution failed: Lambda.ServiceException"
    assert envelope["MessageAttributes"]["sluiceAlert"]["Value"] == "ExecutionFailed"
    alert = Alert.from_message(envelope["Message"])
    assert alert is not None
    assert alert.kind == "ExecutionFailed"
    assert alert.error == "Lambda.ServiceException"
    assert alert.cause.startswith("Lambda.ServiceException: ProcessObject could not be invoked")
    assert alert.execution.startswith("arn:aws:states:us-east-1:123456789012:express:")
    assert "#/express-executions/details/" in alert.execution_url
    assert alert.time == "2025-03-14T10:41:55.187+00:00"
    read = next(line for line in logs() if line.get("message") == "drain log events read")
    assert read["log_events"] == 2 and read["ignored"] == {"TaskFailed": 1}
    assert emitted_metrics()["ExecutionAlertsPublished"] == [1.0]


def test_an_unparseable_log_line_is_a_warning_not_a_failure(
    deliver: Callable[[Event], Any],
    topic: Any,
    awslogs: Callable[..., Event],
    logs: Callable[[], list[dict[str, Any]]],
) -> None:
    failed = json.dumps({"type": "ExecutionTimedOut", "execution_arn": "arn:aws:states:x"})
    outcome = deliver(awslogs("garbage <not json>", failed))

    assert outcome == {"published": 1, "ignored": {}, "unparseable": 1}
    assert [e["Subject"] for e in topic.received()] == ["Sluice drain execution timed out"]
    [warning] = [line for line in logs() if line["level"] == "WARNING"]
    assert warning["message"] == "log event is not a Step Functions history event"
    assert (warning["reason"], warning["message_start"]) == ("not JSON", "garbage <not json>")


def test_the_subscription_control_message_is_ignored(
    deliver: Callable[[Event], Any], topic: Any, awslogs: Callable[..., Event]
) -> None:
    control = awslogs(
        "CWL CONTROL MESSAGE: Checking health of destination", message_type="CONTROL_MESSAGE"
    )
    assert deliver(control)["published"] == 0
    assert topic.received() == []


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"awslogs": {}},
        {"awslogs": {"data": "not base64!"}},
        {"awslogs": {"data": base64.b64encode(b"not gzip").decode()}},
        {"awslogs": {"data": base64.b64encode(gzip.compress(b"{not json")).decode()}},
        {
            "awslogs": {
                "data": base64.b64encode(gzip.compress(b'{"messageType": "DATA_MESSAGE"}')).decode()
            }
        },
    ],
)
def test_a_malformed_awslogs_payload_raises(
    bad: Event,
    fresh_handler: Callable[[], Handler],
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No topic needed: the payload is refused before any AWS client exists.
    monkeypatch.setenv("ALERT_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:unused")
    with pytest.raises(MalformedEvent, match="not a CloudWatch Logs subscription event"):
        fresh_handler()(bad, lambda_context)
