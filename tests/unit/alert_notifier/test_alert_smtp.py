"""Alert emails sent to a real SMTP server on 127.0.0.1 (aiosmtpd): one session, TLS first,
the login only over TLS, and every failure a typed error that names what to fix."""

from __future__ import annotations

import smtplib
import ssl

import pytest

from alert_mail_helpers import SECRET, email_for, settings_for
from alert_notices import notice_for
from alert_smtp import (
    Credentials,
    SmtpAuthFailed,
    SmtpInsecure,
    SmtpRefused,
    SmtpSettings,
    TransientSmtpError,
    connect,
    send_emails,
)
from sluice_local.servers.smtp import LocalTls, SmtpServer


@pytest.fixture
def credentials(login: tuple[str, str]) -> Credentials:
    return Credentials(*login)


def test_a_batch_goes_out_in_one_session_one_email_per_message(
    smtp: SmtpServer, tls: LocalTls, credentials: Credentials
) -> None:
    sessions: list[smtplib.SMTP] = []

    def counting(settings: SmtpSettings, context: ssl.SSLContext) -> smtplib.SMTP:
        sessions.append(connect(settings, context))
        return sessions[-1]

    emails = [email_for(notice_for(f"note {n}", f"Note {n}")) for n in range(3)]
    report = send_emails(emails, settings_for(smtp), tls.client_context, credentials, counting)

    assert report.sent == 3 and len(sessions) == 1
    assert [m.message["Subject"] for m in smtp.messages] == [
        "[Sluice] Note 0",
        "[Sluice] Note 1",
        "[Sluice] Note 2",
    ]


def test_implicit_tls_as_on_port_465(tls: LocalTls, credentials: Credentials) -> None:
    with SmtpServer(tls_context=tls.server_context, implicit_tls=True) as smtps:
        settings = settings_for(smtps, implicit_tls=True, credentials_secret="")
        send_emails([email_for(notice_for("hi"))], settings, tls.client_context)
        assert [m.tls for m in smtps.messages] == [True]


def test_no_plaintext_when_starttls_is_required_but_not_offered(
    plaintext_smtp: SmtpServer, tls: LocalTls, credentials: Credentials
) -> None:
    with pytest.raises(SmtpInsecure, match="does not offer STARTTLS") as raised:
        send_emails(
            [email_for(notice_for("hi"))],
            settings_for(plaintext_smtp),
            tls.client_context,
            credentials,
        )
    assert f"127.0.0.1:{plaintext_smtp.port}" in str(raised.value)
    assert plaintext_smtp.messages == []


def test_the_password_is_never_sent_without_tls(
    plaintext_smtp: SmtpServer, tls: LocalTls, credentials: Credentials
) -> None:
    settings = settings_for(plaintext_smtp, starttls=False)
    with pytest.raises(SmtpInsecure, match=f"refusing to send the password from secret {SECRET}"):
        send_emails([email_for(notice_for("hi"))], settings, tls.client_context, credentials)
    # Without credentials, plaintext is what SMTP_STARTTLS=false asks for.
    send_emails([email_for(notice_for("hi"))], settings, tls.client_context)
    assert [m.tls for m in plaintext_smtp.messages] == [False]


def test_an_untrusted_certificate_is_refused_with_a_hint(smtp: SmtpServer) -> None:
    system_cas_only = ssl.create_default_context()
    with pytest.raises(SmtpInsecure, match=r"not trusted .*set SMTP_CA_FILE"):
        send_emails([email_for(notice_for("hi"))], settings_for(smtp), system_cas_only)
    assert smtp.messages == []


def test_a_temporary_451_raises_a_transient_error_and_a_retry_gets_through(
    smtp: SmtpServer, tls: LocalTls, credentials: Credentials
) -> None:
    smtp.fail_next(1, "451 4.3.0 Mail server temporarily rejected message")
    emails = [email_for(notice_for("hi"))]
    with pytest.raises(TransientSmtpError, match=r"answered 451 4\.3\.0 Mail server temporarily"):
        send_emails(emails, settings_for(smtp), tls.client_context, credentials)
    assert smtp.messages == []

    assert send_emails(emails, settings_for(smtp), tls.client_context, credentials).sent == 1
    assert len(smtp.messages) == 1


def test_no_connection_is_transient(tls: LocalTls) -> None:
    with SmtpServer() as gone:
        settings = settings_for(gone)
    with pytest.raises(TransientSmtpError, match="connection failed while connecting"):
        send_emails([email_for(notice_for("hi"))], settings, tls.client_context)


def refused_login(smtp: SmtpServer, tls: LocalTls, username: str, password: str) -> str:
    """Why sending with this login failed (it must fail as SmtpAuthFailed)."""
    with pytest.raises(SmtpAuthFailed) as raised:
        send_emails(
            [email_for(notice_for("hi"))],
            settings_for(smtp),
            tls.client_context,
            Credentials(username, password),
        )
    return str(raised.value)


def test_a_wrong_password_names_the_server_user_and_secret(
    smtp: SmtpServer, tls: LocalTls, credentials: Credentials
) -> None:
    reason = refused_login(smtp, tls, credentials.username, "wrong")
    assert f"SMTP server 127.0.0.1:{smtp.port} refused the login of 'sluice-alerts'" in reason
    assert "535" in reason and f"secret {SECRET}" in reason
    assert "wrong" not in reason
    # smtplib tries each mechanism the server offers (PLAIN, LOGIN): all refused.
    assert set(smtp.failed_logins) == {credentials.username} and smtp.messages == []


def test_every_recipient_refused_is_a_clear_error_some_refused_is_reported(
    smtp: SmtpServer, tls: LocalTls, credentials: Credentials
) -> None:
    emails = [email_for(notice_for("hi"))]
    smtp.refuse_recipient("oncall@example.com")
    report = send_emails(emails, settings_for(smtp), tls.client_context, credentials)
    assert report.refused == {"oncall@example.com": "550 5.1.1 Mailbox does not exist"}
    assert smtp.messages[0].rcpt_tos == ("ops@example.com",)

    smtp.refuse_recipient("ops@example.com")
    with pytest.raises(SmtpRefused, match=r"refused every recipient.*check ALERT_RECIPIENTS"):
        send_emails(emails, settings_for(smtp), tls.client_context, credentials)


def test_a_password_smtp_cannot_encode_fails_the_login_without_quoting_it(
    smtp: SmtpServer, tls: LocalTls, credentials: Credentials
) -> None:
    # smtplib's own UnicodeEncodeError quotes a character of the password and its position.
    reason = refused_login(smtp, tls, credentials.username, "p\u00e4ssw\u00f6rd")
    assert f"SMTP server 127.0.0.1:{smtp.port} was not sent the login from secret {SECRET}" in (
        reason
    )
    assert "UnicodeEncodeError" in reason and "ASCII only" in reason
    assert not any(part in reason for part in ("\u00e4", "\\xe4", "position", "p\u00e4ss"))
    assert smtp.messages == []
