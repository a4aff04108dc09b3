"""A local SMTP server on 127.0.0.1: real SMTP (aiosmtpd), STARTTLS, AUTH, faults on demand.

Stands in for the organisation's mail relay in the alert tests and the local runtime. It records
every message it accepts (parsed, with its envelope and whether it came over TLS and by whom), and
can refuse what a real relay refuses: a temporary ``451`` for the next messages, a ``550`` for
a recipient, a wrong password.

    tls = local_tls()
    with SmtpServer(tls_context=tls.server_context, credentials=("sluice", "secret")) as smtp:
        ...  # a client trusting tls.client_context sends to smtp.host:smtp.port
        smtp.messages[0].message["Subject"]
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
import threading
from collections import deque
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass(frozen=True)
class LocalTls:
    """A throwaway certificate authority, a server certificate it signed for 127.0.0.1 and
    localhost, and a client context that trusts that authority (and nothing else)."""

    ca: trustme.CA
    server_context: ssl.SSLContext
    client_context: ssl.SSLContext

    @property
    def ca_pem(self) -> bytes:
        return cast(bytes, self.ca.cert_pem.bytes())

    def write_ca_file(self, path: Path) -> Path:
        """The CA certificate as a PEM bundle, for clients configured with a CA file path."""
        path.write_bytes(self.ca_pem)
        return path


def local_tls(*identities: str) -> LocalTls:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*(identities or ("127.0.0.1", "localhost"))).configure_cert(server_context)
    # Only this CA: with cadata, create_default_context does not load the system's CAs.
    client_context = ssl.create_default_context(cadata=ca.cert_pem.bytes().decode("ascii"))
    return LocalTls(ca=ca, server_context=server_context, client_context=client_context)


@dataclass(frozen=True)
class ReceivedMessage:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage  # parsed with email.policy.default: get_body(), iter_parts() work
    raw: bytes
    tls: bool  # the session was encrypted (STARTTLS or implicit TLS) when DATA came
    authenticated_as: str | None  # the AUTH login, None when the client did not log in


@dataclass
class _Faults:
    data_replies: deque[str] = field(default_factory=deque)
    refused_recipients: dict[str, str] = field(default_factory=dict)


class _EphemeralPortController(Controller):
    """aiosmtpd's Controller probes ``hostname:port`` after binding, which fails for port 0:
    learn the port the OS picked before the probe."""

    def _trigger_server(self) -> None:
        if self.server is not None and self.port == 0:
            server = cast(asyncio.Server, self.server)
            self.port = server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpServer:
    """``with SmtpServer() as smtp: ... smtp.port ... smtp.messages``.

    ``tls_context`` offers STARTTLS (and, with ``require_starttls``, refuses mail before it);
    ``implicit_tls`` wraps the whole connection instead, as on port 465. ``credentials``
    turns on AUTH (PLAIN/LOGIN), offered only after TLS unless ``auth_require_tls`` is false,
    and refuses mail from a client that has not logged in.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tls_context: ssl.SSLContext | None = None,
        require_starttls: bool = True,
        implicit_tls: bool = False,
        credentials: tuple[str, str] | None = None,
        auth_require_tls: bool = True,
    ) -> None:
        if implicit_tls and tls_context is None:
            raise ValueError("implicit_tls needs a tls_context")
        self.host = host
        self._lock = threading.Lock()
        self._faults = _Faults()
        self._credentials = credentials
        self.messages: list[ReceivedMessage] = []
        self.failed_logins: list[str] = []
        smtp_options: dict[str, Any] = {
            # A fixed name: aiosmtpd would otherwise ask DNS for this machine's FQDN.
            "server_hostname": "localhost",
            "auth_require_tls": auth_require_tls,
        }
        if credentials is not None:
            smtp_options |= {"authenticator": self._authenticate, "auth_required": True}
        if tls_context is not None and not implicit_tls:
            smtp_options |= {"tls_context": tls_context, "require_starttls": require_starttls}
        self._controller = _EphemeralPortController(
            _Handler(self),
            hostname=host,
            port=port,
            ssl_context=tls_context if implicit_tls else None,
            **smtp_options,
        )
        self._running = False

    @property
    def port(self) -> int:
        return int(self._controller.port)

    def start(self) -> SmtpServer:
        if not self._running:
            self._controller.start()
            self._running = True
        return self

    def stop(self) -> None:
        if self._running:
            self._controller.stop()
            self._running = False

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- faults ----------------------------------------------------------------------------
    def fail_next(self, count: int = 1, reply: str = "451 4.3.0 Try again later") -> None:
        """Answer the next ``count`` messages' DATA with ``reply`` instead of accepting them."""
        with self._lock:
            self._faults.data_replies.extend([reply] * count)

    def refuse_recipient(
        self, address: str, reply: str = "550 5.1.1 Mailbox does not exist"
    ) -> None:
        with self._lock:
            self._faults.refused_recipients[address.lower()] = reply

    def reset(self) -> None:
        with self._lock:
            self.messages.clear()
            self.failed_logins.clear()
            self._faults = _Faults()

    # -- what the handler calls (on the server's event loop thread) ------------------------
    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword) or self._credentials is None:
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        if (login, password) == self._credentials:
            return AuthResult(success=True, auth_data=login)
        with self._lock:
            self.failed_logins.append(login)
        return AuthResult(success=False, handled=False)

    def _rcpt_reply(self, address: str) -> str | None:
        with self._lock:
            return self._faults.refused_recipients.get(address.lower())

    def _data_reply(self) -> str | None:
        with self._lock:
            return self._faults.data_replies.popleft() if self._faults.data_replies else None

    def _record(self, received: ReceivedMessage) -> None:
        with self._lock:
            self.messages.append(received)


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self._server = server

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        refusal = self._server._rcpt_reply(address)
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        fault = self._server._data_reply()
        if fault is not None:
            return fault
        raw = envelope.original_content or b""
        transport = server.transport
        encrypted = session.ssl is not None or (
            transport is not None and transport.get_extra_info("ssl_object") is not None
        )
        self._server._record(
            ReceivedMessage(
                mail_from=envelope.mail_from or "",
                rcpt_tos=tuple(envelope.rcpt_tos),
                message=cast(
                    EmailMessage, email.message_from_bytes(raw, policy=email.policy.default)
                ),
                raw=raw,
                tls=encrypted,
                authenticated_as=session.auth_data if session.authenticated else None,
            )
        )
        return "250 2.0.0 Message accepted for delivery"
