"""AlertNotifier's wiring: its checked settings, the TLS context and SMTP login they call for,
the SNS records as emails, and what a send reports (metrics, log lines). The per-container
caches stay in app.py, so that each cold start (a new handler module) builds them anew."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import SNSEvent

from alert_notices import notice_for
from alert_notifier_settings import AlertNotifierSettings
from alert_render import build_email
from alert_smtp import (
    Credentials,
    SendReport,
    SmtpCredentialsUnavailable,
    SmtpError,
    SmtpMisconfigured,
    SmtpSettings,
)
from sluice_common.errors import MalformedEvent
from sluice_common.observability import logger, metrics
from sluice_common.secrets import json_fields, read_secret
from sluice_common.settings import load


def checked_settings(env: Mapping[str, str] | None = None) -> AlertNotifierSettings:
    """The settings (default: os.environ), complete; :class:`SmtpMisconfigured` otherwise."""
    config = load(AlertNotifierSettings, env, error=SmtpMisconfigured)  # its own error name
    missing = [
        name
        for name, value in (
            ("SMTP_HOST", config.smtp_host),
            ("ALERT_FROM", config.sender),
            ("ALERT_RECIPIENTS", config.recipients),
        )
        if not value
    ]
    if missing:
        raise SmtpMisconfigured(f"AlertNotifierFunction needs {', '.join(missing)}")
    bad = [address for address in (config.sender, *config.recipients) if "@" not in address]
    if bad:
        raise SmtpMisconfigured(f"not email addresses: {bad} (ALERT_FROM, ALERT_RECIPIENTS)")
    return config


def smtp_settings(config: AlertNotifierSettings) -> SmtpSettings:
    return SmtpSettings(
        host=config.smtp_host,
        port=config.smtp_port,
        starttls=config.starttls,
        implicit_tls=config.smtp_port == 465,
        timeout_s=config.timeout_s,
        credentials_secret=config.credentials_secret_arn,
    )


def tls_context(ca_file: str) -> ssl.SSLContext:
    context = ssl.create_default_context()  # verifies the certificate and the host name
    if ca_file:
        try:
            context.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise SmtpMisconfigured(f"SMTP_CA_FILE {ca_file}: {exc}") from None
    return context


def smtp_credentials(arn: str) -> Credentials | None:
    """The login in secret ``arn`` (cached per container by sluice_common.secrets); None: no
    secret configured, the relay takes mail without a login."""
    if not arn:
        return None
    value = read_secret(arn, what="the SMTP credentials", unavailable=SmtpCredentialsUnavailable)
    login = json_fields(value, arn, ("username", "password"), malformed=SmtpMisconfigured)
    return Credentials(username=login["username"], password=login["password"])


def function_region(invoked_function_arn: str) -> str:
    """The function's own region (arn:aws:lambda:<region>:...): console links' fallback."""
    parts = invoked_function_arn.split(":")
    return parts[3] if len(parts) > 3 else ""


def compose_emails(event: Any, config: AlertNotifierSettings, *, region: str) -> list[EmailMessage]:
    """One email per SNS record; :class:`MalformedEvent` when the event is not from SNS."""
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list) or not records:
        raise MalformedEvent("not an SNS event: it has no Records")
    emails = []
    for record in SNSEvent(event).records:
        try:
            sns = record.sns
            body, message_id, topic = sns.message, sns.message_id, sns.topic_arn
        except (KeyError, TypeError):
            raise MalformedEvent("an SNS record lacks Sns.Message/MessageId/TopicArn") from None
        subject = sns.get("Subject")
        notice = notice_for(
            body,
            subject if isinstance(subject, str) else None,
            region=region,
            stack=config.stack,
        )
        emails.append(
            build_email(
                notice,
                sender=config.sender,
                recipients=config.recipients,
                unique_id=f"sns-{message_id}",
                footer=f"Sent by Sluice's AlertNotifierFunction for SNS message {message_id} "
                f"on {topic}.",
            )
        )
        logger.info(
            "alert email composed",
            extra={
                "kind": notice.kind,
                "subject": emails[-1]["Subject"],
                "sns_message": message_id,
            },
        )
    return emails


def report_failure(exc: SmtpError, emails: int) -> None:
    metrics.add_metric(name="AlertEmailsFailed", unit=MetricUnit.Count, value=emails)
    logger.error(
        "alert emails not sent",
        extra={"error": type(exc).__name__, "reason": str(exc), "retryable": exc.retryable},
    )


def report_sent(report: SendReport, smtp: SmtpSettings, recipients: int) -> None:
    metrics.add_metric(name="AlertEmailsSent", unit=MetricUnit.Count, value=report.sent)
    if report.refused:
        # The others got it: raising would make Lambda send everyone a duplicate.
        metrics.add_metric(
            name="AlertRecipientsRefused", unit=MetricUnit.Count, value=len(report.refused)
        )
        logger.error("alert email recipients refused", extra={"refused": report.refused})
    logger.info(
        "alert emails sent",
        extra={"sent": report.sent, "server": smtp.server, "recipients": recipients},
    )
