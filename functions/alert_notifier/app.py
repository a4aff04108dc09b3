"""AlertNotifier handler: each SNS record on the alarm topic becomes one email, one SMTP session.

Invoked asynchronously by SNS: a raised error is retried by Lambda, then the event goes to the
function's on-failure destination, so an alert that cannot be mailed is never silently dropped.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import SNSEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from alert_email import (
    Credentials,
    SmtpCredentialsUnavailable,
    SmtpError,
    SmtpMisconfigured,
    SmtpSettings,
    build_email,
    notice_for,
    send_emails,
)
from sluice_common.errors import MalformedEvent
from sluice_common.observability import logger, metrics, tracer

_TRUE = {"true", "yes", "1"}
_FALSE = {"false", "no", "0"}


@dataclass(frozen=True)
class Settings:
    smtp: SmtpSettings
    sender: str
    recipients: tuple[str, ...]
    ca_file: str  # extra CA bundle for a private SMTP server's certificate
    stack: str
    region: str

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        host = env.get("SMTP_HOST", "").strip()
        sender = env.get("ALERT_FROM", "").strip()
        recipients = tuple(
            address.strip() for address in env.get("ALERT_RECIPIENTS", "").split(",")
        )
        recipients = tuple(address for address in recipients if address)
        missing = [
            name
            for name, value in (
                ("SMTP_HOST", host),
                ("ALERT_FROM", sender),
                ("ALERT_RECIPIENTS", recipients),
            )
            if not value
        ]
        if missing:
            raise SmtpMisconfigured(f"AlertNotifierFunction needs {', '.join(missing)}")
        bad = [address for address in (sender, *recipients) if "@" not in address]
        if bad:
            raise SmtpMisconfigured(f"not email addresses: {bad} (ALERT_FROM, ALERT_RECIPIENTS)")
        starttls = env.get("SMTP_STARTTLS", "true").strip().lower()
        if starttls not in _TRUE | _FALSE:
            raise SmtpMisconfigured(f"SMTP_STARTTLS must be true or false, got {starttls!r}")
        try:
            port = int(env.get("SMTP_PORT", "587"))
            timeout_s = float(env.get("SMTP_TIMEOUT_SECONDS", "10"))
        except ValueError as exc:
            raise SmtpMisconfigured(f"SMTP_PORT / SMTP_TIMEOUT_SECONDS: {exc}") from None
        return cls(
            smtp=SmtpSettings(
                host=host,
                port=port,
                starttls=starttls in _TRUE,
                implicit_tls=port == 465,
                timeout_s=timeout_s,
                credentials_secret=env.get("SMTP_CREDENTIALS_SECRET_ARN", "").strip(),
            ),
            sender=sender,
            recipients=recipients,
            ca_file=env.get("SMTP_CA_FILE", "").strip(),
            stack=env.get("STACK_NAME", "").strip(),
            region=env.get("AWS_REGION", env.get("AWS_DEFAULT_REGION", "")),
        )


# One of each per container: settings and the TLS context (loading CAs costs milliseconds).
@cache
def settings() -> Settings:
    return Settings.from_env()


@cache
def ssl_context() -> ssl.SSLContext:
    context = ssl.create_default_context()  # verifies the certificate and the host name
    if settings().ca_file:
        try:
            context.load_verify_locations(cafile=settings().ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise SmtpMisconfigured(f"SMTP_CA_FILE {settings().ca_file}: {exc}") from None
    return context


def credentials() -> Credentials | None:
    arn = settings().smtp.credentials_secret
    if not arn:
        return None
    from aws_lambda_powertools.utilities import parameters
    from aws_lambda_powertools.utilities.parameters.exceptions import (
        GetParameterError,
        TransformParameterError,
    )

    try:
        value = parameters.get_secret(arn, transform="json", max_age=300)
    except TransformParameterError:
        raise SmtpMisconfigured(
            f'secret {arn} is not JSON: it must be {{"username": "...", "password": "..."}}'
        ) from None
    except GetParameterError as exc:
        raise SmtpCredentialsUnavailable(
            f"cannot read the SMTP credentials from secret {arn}: {exc}"
        ) from None
    username = value.get("username") if isinstance(value, dict) else None
    password = value.get("password") if isinstance(value, dict) else None
    if not isinstance(username, str) or not isinstance(password, str) or not username:
        raise SmtpMisconfigured(
            f'secret {arn} must hold {{"username": "...", "password": "..."}} (both strings)'
        )
    return Credentials(username=username, password=password)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config = settings()
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
            region=config.region,
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
    try:
        report = send_emails(emails, config.smtp, ssl_context(), credentials())
    except SmtpError as exc:
        metrics.add_metric(name="AlertEmailsFailed", unit=MetricUnit.Count, value=len(emails))
        logger.error(
            "alert emails not sent",
            extra={"error": type(exc).__name__, "reason": str(exc), "retryable": exc.retryable},
        )
        raise
    metrics.add_metric(name="AlertEmailsSent", unit=MetricUnit.Count, value=report.sent)
    if report.refused:
        # The others got it: raising would make Lambda send everyone a duplicate.
        metrics.add_metric(
            name="AlertRecipientsRefused", unit=MetricUnit.Count, value=len(report.refused)
        )
        logger.error("alert email recipients refused", extra={"refused": report.refused})
    logger.info(
        "alert emails sent",
        extra={
            "sent": report.sent,
            "server": config.smtp.server,
            "recipients": len(config.recipients),
        },
    )
    return {"sent": report.sent, "refused": sorted(report.refused)}
