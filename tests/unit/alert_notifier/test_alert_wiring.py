"""AlertNotifier's settings as the template sets them, and the function's own region as the
fallback for console links (Lambda's invoked ARN, as AWS_REGION was before)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from alert_smtp import SmtpMisconfigured, SmtpSettings
from alert_wiring import checked_settings, compose_emails, function_region, smtp_settings

MINIMAL = {
    "SMTP_HOST": "smtp.example.com",
    "ALERT_FROM": "sluice@example.com",
    "ALERT_RECIPIENTS": "ops@example.com",
}


def test_the_template_defaults_are_starttls_on_587() -> None:
    config = checked_settings(MINIMAL | {"SMTP_PORT": "", "SMTP_CA_FILE": ""})
    assert smtp_settings(config) == SmtpSettings(host="smtp.example.com", timeout_s=10.0)
    assert (config.ca_file, config.stack, config.recipients) == ("", "", ("ops@example.com",))


def test_port_465_is_implicit_tls_and_the_timeout_is_read() -> None:
    config = checked_settings(MINIMAL | {"SMTP_PORT": "465", "SMTP_TIMEOUT_SECONDS": "2.5"})
    smtp = smtp_settings(config)
    assert (smtp.implicit_tls, smtp.timeout_s, smtp.server) == (True, 2.5, "smtp.example.com:465")


def test_a_timeout_of_zero_is_refused_as_misconfigured() -> None:
    with pytest.raises(SmtpMisconfigured, match="SMTP_TIMEOUT_SECONDS='0' is below the minimum"):
        checked_settings(MINIMAL | {"SMTP_TIMEOUT_SECONDS": "0"})


def test_console_links_fall_back_to_the_functions_own_region(
    sample_event: Callable[[str], dict[str, Any]],
) -> None:
    event = sample_event("alert_notifier_alarm.json")
    alarm = json.loads(event["Records"][0]["Sns"]["Message"])
    del alarm["AlarmArn"]  # the alarm names no region of its own
    event["Records"][0]["Sns"]["Message"] = json.dumps(alarm)
    region = function_region("arn:aws:lambda:eu-central-1:123456789012:function:sluice-alerts")

    [email] = compose_emails(event, checked_settings(MINIMAL), region=region)
    rich = email.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert region == "eu-central-1"
    assert "https://eu-central-1.console.aws.amazon.com/cloudwatch/home?region=eu-central-1" in rich
