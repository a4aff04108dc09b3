"""AlertNotifier handler: each SNS record on the alarm topic becomes one email, one SMTP session.

Invoked asynchronously by SNS: a raised error is retried by Lambda, then the event goes to the
function's on-failure destination, so an alert that cannot be mailed is never silently dropped.
"""

from __future__ import annotations

import ssl
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from alert_notifier_settings import AlertNotifierSettings
from alert_smtp import Credentials, SmtpError, send_emails
from alert_wiring import (
    checked_settings,
    compose_emails,
    function_region,
    report_failure,
    report_sent,
    smtp_credentials,
    smtp_settings,
    tls_context,
)
from sluice_common.observability import logger, metrics, tracer


# One of each per container: settings and the TLS context (loading CAs costs milliseconds).
@cache
def settings() -> AlertNotifierSettings:
    return checked_settings()


@cache
def ssl_context() -> ssl.SSLContext:
    return tls_context(settings().ca_file)


def credentials() -> Credentials | None:
    return smtp_credentials(settings().credentials_secret_arn)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config = settings()
    emails = compose_emails(event, config, region=function_region(context.invoked_function_arn))
    smtp = smtp_settings(config)
    try:
        report = send_emails(emails, smtp, ssl_context(), credentials())
    except SmtpError as exc:
        report_failure(exc, len(emails))
        raise
    report_sent(report, smtp, len(config.recipients))
    return {"sent": report.sent, "refused": sorted(report.refused)}
