"""Alerts as emails: every kind of message on the alarm topic rendered as plain text and HTML,
some delivered to a real SMTP server on 127.0.0.1 (aiosmtpd) as a mail client would read them."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from alert_mail_helpers import RECIPIENTS, SENDER, email_for, settings_for
from alert_notices import notice_for
from alert_smtp import Credentials, send_emails
from notice_parts import Notice
from sluice_common.alerts import Alert, execution_url
from sluice_local.servers.smtp import LocalTls, ReceivedMessage, SmtpServer

EXECUTION = (
    "arn:aws:states:us-east-1:123456789012:express:sluice-DrainStateMachine-Kx3:"
    "0f3c9a1e-exec:6a1b2c3d-run"
)


@pytest.fixture
def credentials(login: tuple[str, str]) -> Credentials:
    return Credentials(*login)


@pytest.fixture
def alarm(sample_event: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """The CloudWatch alarm notification in events/alert_notifier_alarm.json."""
    loaded: dict[str, Any] = json.loads(
        sample_event("alert_notifier_alarm.json")["Records"][0]["Sns"]["Message"]
    )
    return loaded


def deliver(
    notice: Notice, smtp: SmtpServer, tls: LocalTls, credentials: Credentials
) -> ReceivedMessage:
    report = send_emails([email_for(notice)], settings_for(smtp), tls.client_context, credentials)
    assert report.sent == 1 and report.refused == {}
    [received] = smtp.messages
    return received


def parts(received: ReceivedMessage) -> tuple[str, str]:
    """The plain-text and HTML bodies, as a mail client would pick them."""
    plain = received.message.get_body(preferencelist=("plain",))
    rich = received.message.get_body(preferencelist=("html",))
    assert plain is not None and rich is not None
    # On the wire lines end in CRLF; compare text as written.
    return (
        plain.get_content().replace("\r\n", "\n"),
        rich.get_content().replace("\r\n", "\n"),
    )


METRIC_MATH_ALARM = {
    "AlarmName": "sluice-ProcessObjectDurationAlarm-7YH6GT5FR4ED",
    "AlarmDescription": "Objects take over 80% of FunctionTimeout; raise FunctionTimeout or "
    "split objects before they time out.",
    "AWSAccountId": "123456789012",
    "NewStateValue": "ALARM",
    "NewStateReason": "Threshold Crossed: 1 datapoint [0.93 (14/03/25 10:35:00)] was greater "
    "than the threshold (0.8).",
    "StateChangeTime": "2025-03-14T10:40:31.902+0000",
    "Region": "EU (Ireland)",
    "AlarmArn": "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:"
    "sluice-ProcessObjectDurationAlarm-7YH6GT5FR4ED",
    "OldStateValue": "OK",
    "Trigger": {
        "Period": 300,
        "EvaluationPeriods": 1,
        "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": 0.8,
        "TreatMissingData": "notBreaching",
        "EvaluateLowSampleCountPercentile": "",
        "Metrics": [
            {
                "Id": "duration",
                "MetricStat": {
                    "Metric": {
                        "Dimensions": [{"value": "sluice-ProcessObject", "name": "FunctionName"}],
                        "MetricName": "Duration",
                        "Namespace": "AWS/Lambda",
                    },
                    "Period": 300,
                    "Stat": "Maximum",
                },
                "ReturnData": False,
            },
            {
                "Expression": "duration / (60 * 1000)",
                "Id": "shareOfTimeout",
                "Label": "Longest invocation as a share of FunctionTimeout",
                "ReturnData": True,
            },
        ],
    },
}


# -- rendering, over STARTTLS + AUTH -------------------------------------------------------------
def test_cloudwatch_alarm_arrives_over_starttls_with_plain_and_html_parts(
    smtp: SmtpServer, tls: LocalTls, credentials: Credentials, alarm: dict[str, Any]
) -> None:
    notice = notice_for(json.dumps(alarm), "ALARM: ...", region="eu-west-1", stack="sx")
    received = deliver(notice, smtp, tls, credentials)

    assert received.tls and received.authenticated_as == credentials.username
    assert received.mail_from == "sluice-alerts@example.com"
    assert received.rcpt_tos == RECIPIENTS
    message = received.message
    assert message["Subject"] == "[Sluice] ALARM: sluice-DeadLetterAlarm-1Q2W3E4R5T6Y"
    assert message["From"] == SENDER
    assert message["To"] == "ops@example.com, oncall@example.com"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "multipart/alternative"
    plain, rich = parts(received)
    link = (
        "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1"
        "#alarmsV2:alarm/sluice-DeadLetterAlarm-1Q2W3E4R5T6Y"
    )  # the alarm's own region (its ARN), not the fallback
    for body in (plain, rich):
        assert "Alarm sluice-DeadLetterAlarm-1Q2W3E4R5T6Y is in ALARM" in body
        assert "OK -&gt; ALARM" in body if body is rich else "OK -> ALARM" in body
        assert "Threshold Crossed: 1 out of the last 1 datapoints" in body
        assert "AWS/SQS ApproximateNumberOfMessagesVisible" in body
        assert "QueueName=sluice-ObjectDeadLetterQueue-Zx9Yw8Vu7Ts6" in body
        assert "Maximum of the metric over 60 s &gt; 0" in body or (
            "Maximum of the metric over 60 s > 0, in 1 of 1 evaluation period(s)" in body
        )
        assert "us-east-1 (US East (N. Virginia))" in body
        assert "sluice-redrive --stack sx list" in body
    assert f"    {link}" in plain
    assert f'<a href="{link}">' in rich


def test_metric_math_alarm_shows_each_query_and_what_is_compared(
    smtp: SmtpServer, tls: LocalTls, credentials: Credentials
) -> None:
    received = deliver(notice_for(json.dumps(METRIC_MATH_ALARM)), smtp, tls, credentials)
    plain, rich = parts(received)

    assert received.message["Subject"] == (
        "[Sluice] ALARM: sluice-ProcessObjectDurationAlarm-7YH6GT5FR4ED"
    )
    assert (
        "duration: AWS/Lambda Duration (FunctionName=sluice-ProcessObject), Maximum over 300 s"
        in plain
    )
    assert (
        "shareOfTimeout = duration / (60 * 1000) (Longest invocation as a share of "
        "FunctionTimeout)  <- alarmed on" in plain
    )
    assert (
        "Condition: Longest invocation as a share of FunctionTimeout > 0.8, in 1 of 1 "
        "evaluation period(s)" in plain
    )
    assert "&lt;- alarmed on" in rich and "<- alarmed on" not in rich
    assert "The function's errors and their reasons are in its log group" in plain
    assert "/aws/lambda/sluice-ProcessObject" in plain
    assert "region=eu-west-1#alarmsV2:alarm/sluice-ProcessObjectDurationAlarm" in rich


@pytest.mark.parametrize(
    ("state", "subject", "advice"),
    [
        ("OK", "[Sluice] OK: sluice-DeadLetterAlarm-1Q2W3E4R5T6Y", "Nothing to do"),
        (
            "INSUFFICIENT_DATA",
            "[Sluice] INSUFFICIENT_DATA: sluice-DeadLetterAlarm-1Q2W3E4R5T6Y",
            "no data to judge by",
        ),
    ],
)
def test_recovered_and_silent_alarms_say_so(
    state: str, subject: str, advice: str, alarm: dict[str, Any]
) -> None:
    message = email_for(notice_for(json.dumps(alarm | {"NewStateValue": state})))
    assert message["Subject"] == subject
    assert advice in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_dead_lettered_object_names_object_cause_and_the_redrive_commands(
    smtp: SmtpServer, tls: LocalTls, credentials: Credentials
) -> None:
    alert = Alert(
        kind="ObjectDeadLettered",
        summary="s3://sluice-in/incoming/q1 <draft>.csv: 2 rows failed",
        error="RowsFailed",
        cause=json.dumps({"errorMessage": "row 7: <b>bad</b> & worse", "errorType": "RowsFailed"}),
        bucket="sluice-in",
        key="incoming/q1 <draft>.csv",
        execution=EXECUTION,
        execution_url=execution_url(EXECUTION),
        time="2025-03-14T10:41:55.187Z",
    )
    received = deliver(notice_for(alert.to_message(), stack="sluice-prod"), smtp, tls, credentials)
    plain, rich = parts(received)

    assert received.message["Subject"] == (
        "[Sluice] Object dead-lettered: s3://sluice-in/incoming/q1 <draft>.csv"
    )
    assert "Object: s3://sluice-in/incoming/q1 <draft>.csv" in plain
    assert "Cause: row 7: <b>bad</b> & worse" in plain  # Lambda's error JSON, read for people
    assert "Only its failed rows are sent again" in plain
    for command in (
        "sluice-redrive --stack sluice-prod list",
        "sluice-redrive --stack sluice-prod redrive --contains 'incoming/q1 <draft>.csv' --dry-run",
        "sluice-redrive --stack sluice-prod redrive --contains 'incoming/q1 <draft>.csv'",
    ):
        assert f"$ {command}\n" in plain
    assert "<draft>" not in rich  # every value from the message is escaped
    assert "s3://sluice-in/incoming/q1 &lt;draft&gt;.csv" in rich
    assert "--contains &#x27;incoming/q1 &lt;draft&gt;.csv&#x27; --dry-run" in rich
    assert "row 7: &lt;b&gt;bad&lt;/b&gt; &amp; worse" in rich
    assert f'<a href="{execution_url(EXECUTION)}">' in rich


def test_a_composite_alarm_shows_its_rule() -> None:
    composite = {
        "AlarmName": "sluice-stuck",
        "AlarmRule": 'ALARM("sluice-ObjectQueueAgeAlarm") AND ALARM("sluice-DrainFailed")',
        "NewStateValue": "ALARM",
        "OldStateValue": "OK",
        "NewStateReason": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:sluice-DrainFailed "
        "transitioned to ALARM",
        "AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:sluice-stuck",
    }
    plain = email_for(notice_for(json.dumps(composite))).get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert 'Rule: ALARM("sluice-ObjectQueueAgeAlarm") AND ALARM("sluice-DrainFailed")' in plain
    assert "Condition" not in plain and "Metric" not in plain


def test_the_drains_own_dead_letter_alert_names_the_object_and_error() -> None:
    # What DescribeDeadLetter/AlertDeadLetter in statemachine/drain.asl.json publish.
    published = {
        "sluiceAlert": "ObjectDeadLettered",
        "summary": "An object was dead-lettered",
        "error": "NotCsv",
        "cause": json.dumps({"errorMessage": "s3://in/x.csv looks binary", "errorType": "NotCsv"}),
        "object": {"bucket": "in", "key": "x.csv", "version_id": "3HL4kqtJlcpXroDTDmJ"},
        "messageId": "5fea7756-0ea4-451a-a703-a558b933e274",
        "execution": EXECUTION,
        "time": "2025-03-14T10:41:55.187Z",
    }
    message = email_for(notice_for(json.dumps(published), "Sluice: object dead-lettered"))
    plain = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]

    assert message["Subject"] == "[Sluice] Object dead-lettered: s3://in/x.csv"
    assert plain.startswith("s3://in/x.csv was dead-lettered: NotCsv\n")
    assert "Cause: s3://in/x.csv looks binary" in plain
    assert "Redriving the same object fails the same way" in plain
    assert "sluice-redrive --stack <stack-name> list" in plain and " redrive " not in plain
    assert "/express-executions/details/" in plain  # the link, from the execution ARN

    unparsed = published | {"object": None}  # a message the drain could not parse
    assert email_for(notice_for(json.dumps(unparsed)))["Subject"] == (
        "[Sluice] Object dead-lettered: An object was dead-lettered"
    )


def test_an_object_over_a_cap_is_told_to_raise_it_and_redrive() -> None:
    # The hostile-input caps name their parameter: a genuine object is processed once the cap
    # is raised, so unlike a binary object the redrive steps are shown.
    reason = (
        "s3://in/wide.csv: the header has 80,000 columns; CsvMaxColumns is 16,384 (raise it with"
        " --parameter-overrides CsvMaxColumns=...)"
    )
    published = {
        "sluiceAlert": "ObjectDeadLettered",
        "summary": "An object was dead-lettered",
        "error": "NotCsv",
        "cause": json.dumps({"errorMessage": reason, "errorType": "NotCsv"}),
        "object": {"bucket": "in", "key": "wide.csv"},
        "messageId": "5fea7756-0ea4-451a-a703-a558b933e274",
        "execution": EXECUTION,
        "time": "2025-03-14T10:41:55.187Z",
    }
    plain = email_for(notice_for(json.dumps(published))).get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "raise that parameter and redeploy, then redrive it" in plain
    assert "Redriving the same object fails the same way" not in plain
    assert "redrive --contains wide.csv" in plain

    stalled = published | {"error": "NoProgress", "cause": "s3://in/wide.csv: 5 invocations"}
    plain = email_for(notice_for(json.dumps(stalled))).get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "it resumes from its checkpoint" in plain and "redrive --contains wide.csv" in plain


@pytest.mark.parametrize(
    ("kind", "subject"),
    [
        ("ExecutionFailed", "[Sluice] Drain execution failed: States.TaskFailed"),
        ("ExecutionTimedOut", "[Sluice] Drain execution timed out: States.TaskFailed"),
        ("ExecutionAborted", "[Sluice] Drain execution was aborted: States.TaskFailed"),
    ],
)
def test_drain_execution_alerts_link_the_execution(kind: str, subject: str) -> None:
    alert = Alert(
        kind=kind,
        summary=f"Drain execution 0f3c9a1e-exec {kind}",
        error="States.TaskFailed",
        cause="ProcessObject failed\nafter 3 attempts",
        execution=EXECUTION,
        execution_url=execution_url(EXECUTION),
        time="2025-03-14T10:41:55.187Z",
    )
    message = email_for(notice_for(alert.to_message(), stack="sluice-prod"))
    plain = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]

    assert message["Subject"] == subject
    assert message["X-Sluice-Alert"] == kind
    assert "  Cause:\n    ProcessObject failed\n    after 3 attempts\n" in plain
    assert (
        f"  The execution in the Step Functions console:\n    {execution_url(EXECUTION)}" in plain
    )
    assert "/express-executions/details/" in plain
    assert "nothing is lost" in plain


def test_a_link_that_is_not_https_is_not_made_clickable() -> None:
    alert = Alert(kind="ExecutionFailed", summary="x", execution_url="javascript:alert(1)")
    rich = email_for(notice_for(alert.to_message())).get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "javascript:" not in rich


def test_any_other_message_is_mailed_as_text_under_its_sns_subject() -> None:
    message = email_for(notice_for("Disk <almost> full\non host a", "Ops\r\nnote"))
    plain = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    rich = message.get_body(("html",)).get_content()  # type: ignore[union-attr]

    assert message["Subject"] == "[Sluice] Ops note"  # one line, whatever was published
    assert "    Disk <almost> full\n    on host a\n" in plain
    assert "Disk &lt;almost&gt; full" in rich


def test_the_same_sns_message_always_gets_the_same_message_id() -> None:
    notice = notice_for("hello")
    first, again = email_for(notice, "sns-95df01b4"), email_for(notice, "sns-95df01b4")
    assert first["Message-ID"] == again["Message-ID"] == "<sns-95df01b4@example.com>"
