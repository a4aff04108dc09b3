"""Alert emails sent through the organisation's SMTP server, in one session per invocation.

Sending never falls back to plaintext: with STARTTLS required, a server that does not offer it
is refused before anything is sent, and a password is only ever sent over TLS. SMTP failures
become typed errors: :class:`TransientSmtpError` for what may pass (no connection, 4xx), the
others for what a person must fix (a password, a recipient, a certificate), each naming the
server and the secret involved.

Takes the TLS context and the connection factory as arguments; no AWS calls here.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from email.message import EmailMessage

from sluice_common.errors import SluiceError


# -- errors ------------------------------------------------------------------------------------
class SmtpError(SluiceError):
    """The alert email was not sent."""


class TransientSmtpError(SmtpError):
    """No connection, a dropped one, or a 4xx reply: Lambda's retries may get it through."""

    retryable = True


class SmtpRefused(SmtpError):
    """The server answered 5xx: the sender, every recipient or the message was refused."""


class SmtpAuthFailed(SmtpError):
    """The server refused the login, offers no AUTH where credentials are configured, or the
    credentials cannot be sent (not ASCII)."""


class SmtpInsecure(SmtpError):
    """TLS was required but is not available or not trusted: nothing is sent in plaintext."""


class SmtpMisconfigured(SmtpError):
    """The function's settings or the credentials secret are incomplete or invalid."""


class SmtpCredentialsUnavailable(SmtpError):
    """The credentials secret could not be read (missing, no permission, throttled)."""


# -- sending -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    starttls: bool = True  # ignored with implicit_tls, where the whole connection is TLS
    implicit_tls: bool = False  # port 465 (SMTPS)
    timeout_s: float = 10.0
    credentials_secret: str = ""  # named in errors so a person knows where to look

    @property
    def server(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class SendReport:
    sent: int
    # Recipients refused while others took the message: {recipient: "code reply"}.
    refused: dict[str, str] = field(default_factory=dict)


Connect = Callable[[SmtpSettings, ssl.SSLContext], smtplib.SMTP]


def connect(settings: SmtpSettings, context: ssl.SSLContext) -> smtplib.SMTP:
    if settings.implicit_tls:
        return smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=settings.timeout_s, context=context
        )
    return smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_s)


def send_emails(
    messages: Sequence[EmailMessage],
    settings: SmtpSettings,
    context: ssl.SSLContext,
    credentials: Credentials | None = None,
    connect: Connect = connect,
) -> SendReport:
    """Send every message in one SMTP session: TLS first (STARTTLS or implicit), then login.

    Raises a :class:`SmtpError` subclass; a failure mid-batch leaves the earlier messages sent
    (a retry sends them again: SNS delivers one record per event in practice).
    """
    encrypted = settings.implicit_tls or settings.starttls
    if credentials is not None and not encrypted:
        raise SmtpInsecure(
            f"SMTP_STARTTLS is false for {settings.server}: refusing to send the password from "
            f"secret {settings.credentials_secret} in plaintext (use STARTTLS or port 465)"
        )
    if not messages:
        return SendReport(sent=0)
    doing = "connecting"
    try:
        smtp = connect(settings, context)
    except Exception as exc:
        raise _failure(exc, settings, doing, credentials) from exc
    refused: dict[str, str] = {}
    sent = 0
    try:
        doing = "saying EHLO"
        smtp.ehlo()
        if not settings.implicit_tls and settings.starttls:
            if not smtp.has_extn("starttls"):
                raise SmtpInsecure(
                    f"SMTP server {settings.server} does not offer STARTTLS and SMTP_STARTTLS "
                    "is true: refusing to send alerts in plaintext (enable STARTTLS on the "
                    "server, or use port 465 for implicit TLS)"
                )
            doing = "starting TLS"
            smtp.starttls(context=context)
            smtp.ehlo()
        if credentials is not None:
            doing = "logging in"
            smtp.login(credentials.username, credentials.password)
        for message in messages:
            doing = f"sending {message['Subject']!r}"
            for recipient, (code, reply) in smtp.send_message(message).items():
                refused[recipient] = f"{code} {_reply(reply)}"
            sent += 1
    except Exception as exc:
        with suppress(OSError):
            smtp.close()
        raise _failure(exc, settings, doing, credentials) from exc
    with suppress(smtplib.SMTPException, OSError):
        # Everything was accepted: a server that drops the line at QUIT changes nothing.
        smtp.quit()
    return SendReport(sent=sent, refused=refused)


def _failure(
    exc: Exception, settings: SmtpSettings, doing: str, credentials: Credentials | None
) -> SmtpError:
    server = settings.server
    secret = settings.credentials_secret or "(none configured)"
    if isinstance(exc, SmtpError):
        return exc
    if isinstance(exc, ssl.SSLCertVerificationError):
        return SmtpInsecure(
            f"the TLS certificate of SMTP server {server} is not trusted "
            f"({exc.verify_message}): if the server uses a private CA, set SMTP_CA_FILE to "
            "its CA bundle"
        )
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        replies = {rcpt: f"{code} {_reply(text)}" for rcpt, (code, text) in exc.recipients.items()}
        if all(400 <= code < 500 for code, _ in exc.recipients.values()):
            return TransientSmtpError(
                f"SMTP server {server} deferred every recipient: {replies}; retrying later"
            )
        return SmtpRefused(
            f"SMTP server {server} refused every recipient: {replies}; check ALERT_RECIPIENTS"
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = f"{exc.smtp_code} {_reply(exc.smtp_error)}"
        if 400 <= exc.smtp_code < 500:
            return TransientSmtpError(
                f"SMTP server {server} answered {reply} while {doing}: retrying later"
            )
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            user = credentials.username if credentials else "?"
            return SmtpAuthFailed(
                f"SMTP server {server} refused the login of {user!r} ({reply}): check the "
                f"username and password in secret {secret}"
            )
        if isinstance(exc, smtplib.SMTPSenderRefused):
            return SmtpRefused(
                f"SMTP server {server} refused the sender {exc.sender!r} ({reply}): check "
                "ALERT_FROM (relays often accept only their own domains)"
            )
        return SmtpRefused(f"SMTP server {server} answered {reply} while {doing}")
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return TransientSmtpError(f"SMTP server {server} closed the connection while {doing}")
    if isinstance(exc, smtplib.SMTPException):
        # No reply code: smtplib found the server lacking (no AUTH, no usable mechanism).
        if doing == "logging in":
            return SmtpAuthFailed(
                f"SMTP server {server} cannot take the login from secret {secret} ({exc}): "
                "remove SMTP_CREDENTIALS_SECRET_ARN if the server relays without login"
            )
        return SmtpRefused(f"SMTP server {server} failed while {doing}: {exc}")
    if isinstance(exc, ValueError) and doing == "logging in":
        # smtplib encodes the login as ASCII and its UnicodeEncodeError quotes a character of
        # the password: name the secret and the problem only.
        return SmtpAuthFailed(
            f"SMTP server {server} was not sent the login from secret {secret}: the username "
            f"or password cannot be encoded ({type(exc).__name__}); SMTP AUTH takes ASCII only"
        )
    if isinstance(exc, OSError):
        # Timeouts, refused connections, DNS failures, TLS handshakes cut short.
        return TransientSmtpError(f"SMTP server {server}: connection failed while {doing}: {exc}")
    raise exc


def _reply(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())
