"""What the alert email tests share: the addresses, the secret named in errors, an SMTP
settings builder and the email for a notice (fixtures stay in conftest.py and the modules)."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

from alert_render import build_email
from alert_smtp import SmtpSettings
from notice_parts import Notice
from sluice_local.servers.smtp import SmtpServer

SENDER = "Sluice alerts <sluice-alerts@example.com>"
RECIPIENTS = ("ops@example.com", "oncall@example.com")
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:sluice/smtp-AbCdEf"


def settings_for(server: SmtpServer, **overrides: Any) -> SmtpSettings:
    values: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "timeout_s": 5.0,
        "credentials_secret": SECRET,
    }
    return SmtpSettings(**(values | overrides))


def email_for(notice: Notice, unique_id: str | None = None) -> EmailMessage:
    return build_email(notice, sender=SENDER, recipients=RECIPIENTS, unique_id=unique_id)
