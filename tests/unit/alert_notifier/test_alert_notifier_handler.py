"""The handler with the sample SNS event: settings from the environment, the SMTP password from
Secrets Manager (moto), the email through a real SMTP server with STARTTLS and AUTH."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from alert_smtp import SmtpAuthFailed, SmtpInsecure, SmtpMisconfigured, TransientSmtpError
from sluice_common.alerts import Alert
from sluice_common.errors import MalformedEvent
from sluice_local.handlers import Handler
from sluice_local.servers.smtp import LocalTls, SmtpServer

Event = dict[str, Any]


@pytest.fixture
def secrets() -> Iterator[Any]:
    import boto3
    from aws_lambda_powertools.utilities import parameters
    from moto import mock_aws

    parameters.clear_caches()  # a secret cached by an earlier test must not answer here
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


@pytest.fixture
def secret_arn(secrets: Any, login: tuple[str, str]) -> str:
    username, password = login
    arn: str = secrets.create_secret(
        Name="sluice/smtp", SecretString=json.dumps({"username": username, "password": password})
    )["ARN"]
    return arn


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Complete settings without a secret or a reachable server: enough to fail on settings."""
    for name, value in {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": "25",
        "SMTP_TIMEOUT_SECONDS": "5",
        "ALERT_FROM": "Sluice <sluice-alerts@example.com>",
        "ALERT_RECIPIENTS": "ops@example.com, oncall@example.com,",
        "STACK_NAME": "sluice-prod",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("SMTP_STARTTLS", "SMTP_CREDENTIALS_SECRET_ARN", "SMTP_CA_FILE"):
        monkeypatch.delenv(name, raising=False)  # SMTP_STARTTLS: the default, required
    return monkeypatch


@pytest.fixture
def environment(
    settings_env: pytest.MonkeyPatch,
    smtp: SmtpServer,
    tls: LocalTls,
    secret_arn: str,
    tmp_path: Path,
) -> pytest.MonkeyPatch:
    settings_env.setenv("SMTP_PORT", str(smtp.port))
    settings_env.setenv("SMTP_CREDENTIALS_SECRET_ARN", secret_arn)
    # The relay's certificate comes from a private CA, as in many organisations.
    settings_env.setenv("SMTP_CA_FILE", str(tls.write_ca_file(tmp_path / "ca.pem")))
    return settings_env


@pytest.fixture
def handler(fresh_handler: Callable[[], Handler], environment: pytest.MonkeyPatch) -> Handler:
    return fresh_handler()


@pytest.fixture
def alarm_event(sample_event: Callable[[str], Event]) -> Event:
    """events/alert_notifier_alarm.json: one CloudWatch alarm notification from SNS."""
    return sample_event("alert_notifier_alarm.json")


@pytest.fixture
def mail_alarm(
    fresh_handler: Callable[[], Handler], alarm_event: Event, lambda_context: Any
) -> Callable[[], Any]:
    """A cold start, with the environment as the test has left it, given the sample alarm."""
    return lambda: fresh_handler()(alarm_event, lambda_context)


def with_messages(sample: Event, *messages: tuple[str, str | None]) -> Event:
    """The sample event with one record per (message, subject), each with its own id."""
    [record] = sample["Records"]
    event: Event = {"Records": []}
    for number, (message, subject) in enumerate(messages):
        copied = copy.deepcopy(record)
        copied["Sns"] |= {"Message": message, "Subject": subject, "MessageId": f"msg-{number}"}
        event["Records"].append(copied)
    return event


def test_the_sample_alarm_is_mailed_over_starttls_with_the_password_from_secrets_manager(
    handler: Handler,
    smtp: SmtpServer,
    alarm_event: Event,
    lambda_context: Any,
    login: tuple[str, str],
    emitted_metrics: Callable[[], dict[str, Any]],
) -> None:
    assert handler(alarm_event, lambda_context) == {"sent": 1, "refused": []}

    [received] = smtp.messages
    assert received.tls and received.authenticated_as == login[0]
    assert received.rcpt_tos == ("ops@example.com", "oncall@example.com")
    message = received.message
    assert message["Subject"] == "[Sluice] ALARM: sluice-DeadLetterAlarm-1Q2W3E4R5T6Y"
    assert message["From"] == "Sluice <sluice-alerts@example.com>"
    assert message["Message-ID"] == "<sns-95df01b4-ee98-5cb9-9903-4c221d41eb5e@example.com>"
    plain = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    rich = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "sluice-redrive --stack sluice-prod list" in plain
    assert "Objects reached ObjectDeadLetterQueue" in plain
    assert "SNS message 95df01b4-ee98-5cb9-9903-4c221d41eb5e" in plain
    assert "#alarmsV2:alarm/sluice-DeadLetterAlarm-1Q2W3E4R5T6Y" in rich
    assert emitted_metrics()["AlertEmailsSent"] == [1.0]


def test_a_batch_of_records_is_one_email_each_in_one_session(
    handler: Handler, smtp: SmtpServer, alarm_event: Event, lambda_context: Any
) -> None:
    alert = Alert(
        kind="ObjectDeadLettered",
        summary="s3://in/a.csv is empty (0 bytes)",
        error="EmptyObject",
        bucket="in",
        key="a.csv",
    )
    event = with_messages(
        alarm_event,
        (alarm_event["Records"][0]["Sns"]["Message"], "ALARM: ..."),
        (alert.to_message(), None),
        ("The nightly export was skipped", "Export <skipped>"),
    )
    assert handler(event, lambda_context)["sent"] == 3

    assert [m.message["Subject"] for m in smtp.messages] == [
        "[Sluice] ALARM: sluice-DeadLetterAlarm-1Q2W3E4R5T6Y",
        "[Sluice] Object dead-lettered: s3://in/a.csv",
        "[Sluice] Export <skipped>",
    ]
    assert [m.message["Message-ID"] for m in smtp.messages] == [
        f"<sns-msg-{n}@example.com>" for n in range(3)
    ]


def test_a_wrong_password_in_the_secret_is_a_clear_error(
    mail_alarm: Callable[[], Any],
    environment: pytest.MonkeyPatch,
    secrets: Any,
    smtp: SmtpServer,
    logs: Callable[[], list[dict[str, Any]]],
    emitted_metrics: Callable[[], dict[str, Any]],
) -> None:
    arn = secrets.create_secret(
        Name="sluice/smtp-stale",
        SecretString=json.dumps({"username": "sluice-alerts", "password": "last-years"}),
    )["ARN"]
    environment.setenv("SMTP_CREDENTIALS_SECRET_ARN", arn)
    with pytest.raises(SmtpAuthFailed, match=f"refused the login of 'sluice-alerts'.*{arn}"):
        mail_alarm()

    assert smtp.messages == []
    failed = next(line for line in logs() if line.get("message") == "alert emails not sent")
    assert failed["error"] == "SmtpAuthFailed" and failed["retryable"] is False
    assert "last-years" not in json.dumps(logs())
    assert emitted_metrics()["AlertEmailsFailed"] == [1.0]


def test_a_relay_without_starttls_gets_nothing(
    mail_alarm: Callable[[], Any], environment: pytest.MonkeyPatch, plaintext_smtp: SmtpServer
) -> None:
    environment.setenv("SMTP_PORT", str(plaintext_smtp.port))
    with pytest.raises(SmtpInsecure, match="refusing to send alerts in plaintext"):
        mail_alarm()
    assert plaintext_smtp.messages == []


def test_a_451_raises_the_transient_error_lambda_retries(
    handler: Handler,
    smtp: SmtpServer,
    alarm_event: Event,
    lambda_context: Any,
    logs: Callable[[], list[dict[str, Any]]],
) -> None:
    smtp.fail_next(1)
    with pytest.raises(TransientSmtpError, match="451"):
        handler(alarm_event, lambda_context)
    failed = next(line for line in logs() if line.get("message") == "alert emails not sent")
    assert failed["retryable"] is True

    handler(alarm_event, lambda_context)  # Lambda's retry
    assert len(smtp.messages) == 1


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SMTP_HOST", "", "needs SMTP_HOST"),
        ("ALERT_RECIPIENTS", " , ", "needs ALERT_RECIPIENTS"),
        ("ALERT_RECIPIENTS", "ops", "not email addresses: \\['ops'\\]"),
        ("SMTP_STARTTLS", "maybe", "SMTP_STARTTLS='maybe' is not true or false"),
        ("SMTP_PORT", "smtp", "SMTP_PORT='smtp' is not a whole number"),
        ("SMTP_PORT", "70000", "SMTP_PORT='70000' is above the maximum 65535"),
    ],
)
def test_bad_settings_are_named(
    name: str,
    value: str,
    message: str,
    mail_alarm: Callable[[], Any],
    settings_env: pytest.MonkeyPatch,
) -> None:
    settings_env.setenv(name, value)
    with pytest.raises(SmtpMisconfigured, match=message):
        mail_alarm()


def test_a_secret_without_username_and_password_is_named(
    mail_alarm: Callable[[], Any], environment: pytest.MonkeyPatch, secrets: Any
) -> None:
    arn = secrets.create_secret(Name="sluice/smtp-bad", SecretString='{"user": "x"}')["ARN"]
    environment.setenv("SMTP_CREDENTIALS_SECRET_ARN", arn)
    with pytest.raises(SmtpMisconfigured, match=f"secret {arn} must hold"):
        mail_alarm()


def test_an_event_without_records_is_malformed(handler: Handler, lambda_context: Any) -> None:
    with pytest.raises(MalformedEvent, match="not an SNS event"):
        handler({"awslogs": {}}, lambda_context)
