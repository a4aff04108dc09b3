"""AlertNotifierFunction's settings: every variable template.yaml sets on it, declared once.

Most come from template parameters (their defaults are the parameters' Defaults); STACK_NAME is
the stack's own name, and the last two are tuning the template sets as literals.
"""

from __future__ import annotations

from dataclasses import dataclass

from sluice_common.settings import setting


@dataclass(frozen=True)
class AlertNotifierSettings:
    # Empty by default: the template creates the function only when alert email is set up, and
    # alert_wiring.py says which of these are missing (an optional parameter passes "").
    smtp_host: str = setting("SMTP_HOST", "", parameter="SmtpHost")
    smtp_port: int = setting("SMTP_PORT", 587, parameter="SmtpPort", minimum=1, maximum=65535)
    starttls: bool = setting("SMTP_STARTTLS", True, parameter="SmtpStartTls")
    credentials_secret_arn: str = setting(
        "SMTP_CREDENTIALS_SECRET_ARN", "", parameter="SmtpCredentialsSecretArn"
    )
    sender: str = setting("ALERT_FROM", "", parameter="AlertFromAddress")
    recipients: tuple[str, ...] = setting("ALERT_RECIPIENTS", (), parameter="AlertRecipients")
    stack: str = setting("STACK_NAME", "")  # for the sluice-redrive commands in the email
    # More than 0: a 0 s timeout makes smtplib's socket non-blocking (bounds are inclusive).
    timeout_s: float = setting("SMTP_TIMEOUT_SECONDS", 10.0, minimum=0.001)
    ca_file: str = setting("SMTP_CA_FILE", "")  # extra CA bundle for a private server's certificate
