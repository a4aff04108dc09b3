"""Drain history events read from the log become alerts; everything else is counted."""

from __future__ import annotations

import json
from typing import Any

import pytest

from execution_alerts import (
    LogEvent,
    alert_for,
    execution_name,
    history_event,
    publish_alerts,
    sns_subject,
    subject_for,
)
from sluice_common.alerts import Alert

EXPRESS = (
    "arn:aws:states:us-east-1:123456789012:express:sluice-DrainStateMachine-Kx3:"
    "0f3c9a1e-exec:6a1b2c3d-run"
)
TOPIC = "arn:aws:sns:us-east-1:123456789012:sluice-AlarmTopic"


class RecordingSns:
    """An SNS client that records publish() calls."""

    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    def publish(self, **request: Any) -> dict[str, str]:
        self.published.append(request)
        return {"MessageId": str(len(self.published))}


def history(kind: str, **details: str) -> str:
    return json.dumps(
        {
            "id": "13",
            "type": kind,
            "details": details,
            "previous_event_id": "12",
            "event_timestamp": "1741948915187",
            "execution_arn": EXPRESS,
            "redrive_count": "0",
        }
    )


@pytest.mark.parametrize(
    ("kind", "summary", "subject"),
    [
        (
            "ExecutionFailed",
            "Drain execution 0f3c9a1e-exec failed: States.TaskFailed",
            "Sluice drain execution failed: States.TaskFailed",
        ),
        (
            "ExecutionTimedOut",
            "Drain execution 0f3c9a1e-exec timed out: States.TaskFailed",
            "Sluice drain execution timed out: States.TaskFailed",
        ),
        (
            "ExecutionAborted",
            "Drain execution 0f3c9a1e-exec was aborted: States.TaskFailed",
            "Sluice drain execution was aborted: States.TaskFailed",
        ),
    ],
)
def test_an_execution_that_ended_badly_is_one_alert_with_its_link(
    kind: str, summary: str, subject: str
) -> None:
    sns = RecordingSns()
    message = history(kind, error="States.TaskFailed", cause="ProcessObject: <boom>")
    outcome = publish_alerts(sns, TOPIC, [LogEvent(message)])

    assert outcome.to_dict() == {"published": 1, "ignored": {}, "unparseable": 0}
    [request] = sns.published
    assert request["TopicArn"] == TOPIC
    assert request["Subject"] == subject
    assert request["MessageAttributes"] == {
        "sluiceAlert": {"DataType": "String", "StringValue": kind}
    }
    alert = Alert.from_message(request["Message"])
    assert alert is not None
    assert (alert.kind, alert.summary) == (kind, summary)
    assert (alert.error, alert.cause) == ("States.TaskFailed", "ProcessObject: <boom>")
    assert alert.execution == EXPRESS
    assert alert.execution_url.startswith(
        "https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1"
        "#/express-executions/details/arn:aws:states:us-east-1:"
    )
    assert alert.time == "2025-03-14T10:41:55.187+00:00"


def test_other_history_events_are_not_alerts_but_are_counted() -> None:
    sns = RecordingSns()
    messages = [
        history("TaskFailed", error="Sandbox.Timedout"),
        history("LambdaFunctionFailed", error="RowsFailed"),
        history("TaskFailed", error="Lambda.ServiceException"),
    ]
    outcome = publish_alerts(sns, TOPIC, [LogEvent(m) for m in messages])
    assert outcome.to_dict() == {
        "published": 0,
        "ignored": {"TaskFailed": 2, "LambdaFunctionFailed": 1},
        "unparseable": 0,
    }
    assert sns.published == []


def test_unparseable_log_events_are_counted_with_a_sample_not_raised() -> None:
    sns = RecordingSns()
    messages = ["not json at all", json.dumps(["a", "list"]), json.dumps({"id": "1"})]
    outcome = publish_alerts(
        sns, TOPIC, [*map(LogEvent, messages), LogEvent(history("ExecutionFailed"))]
    )
    assert outcome.published == 1
    assert outcome.unparseable == [
        {"reason": "not JSON", "message_start": "not json at all"},
        {"reason": "no event type", "message_start": '["a", "list"]'},
        {"reason": "no event type", "message_start": '{"id": "1"}'},
    ]


def test_without_details_or_timestamp_the_alert_still_says_what_and_when() -> None:
    event = history_event(json.dumps({"type": "ExecutionAborted", "execution_arn": EXPRESS}))
    alert = alert_for(event, fallback_timestamp_ms=1741948915000)
    assert alert is not None
    assert alert.summary == "Drain execution 0f3c9a1e-exec was aborted"
    assert (alert.error, alert.cause) == ("", "")
    assert alert.time == "2025-03-14T10:41:55.000+00:00"  # the log event's own timestamp
    assert subject_for(alert) == "Sluice drain execution was aborted"


def test_execution_names_come_from_standard_and_express_arns() -> None:
    assert execution_name(EXPRESS) == "0f3c9a1e-exec"
    standard = "arn:aws:states:eu-west-1:123456789012:execution:sluice-Drain:run-42"
    assert execution_name(standard) == "run-42"
    assert execution_name("not an arn") == ""


def test_sns_subjects_are_printable_ascii_one_line_at_most_100() -> None:
    wanted = {
        "Sluice: café\nfailed\r\n\tagain": "Sluice: cafe failed again",
        "Fehler → “Zeitüberschreitung”": "Fehler Zeituberschreitung",
        "x" * 150: "x" * 97 + "...",
        "\n\u2603\n": "Sluice alert",
    }
    for text, subject in wanted.items():
        assert sns_subject(text) == subject, text
        assert len(subject) <= 100 and subject.isascii() and subject.isprintable()
