"""AlertNotifier's code root and the common layer on sys.path, a local CA and real SMTP servers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sluice_local.servers.smtp import LocalTls, SmtpServer, local_tls
from testkit.functions import function_under_test

USERNAME, PASSWORD = "sluice-alerts", "s3cret-p@ss"  # what the relay accepts

fresh_handler = function_under_test("alert_notifier")


@pytest.fixture
def login() -> tuple[str, str]:
    return USERNAME, PASSWORD


@pytest.fixture(scope="session")
def tls() -> LocalTls:
    return local_tls()


@pytest.fixture
def smtp(tls: LocalTls) -> Iterator[SmtpServer]:
    """The organisation's relay as it should be: STARTTLS required, AUTH only after it."""
    with SmtpServer(tls_context=tls.server_context, credentials=(USERNAME, PASSWORD)) as server:
        yield server


@pytest.fixture
def plaintext_smtp() -> Iterator[SmtpServer]:
    """A relay that offers no STARTTLS at all."""
    with SmtpServer() as server:
        yield server
