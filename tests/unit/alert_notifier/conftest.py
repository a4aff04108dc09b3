"""AlertNotifier's code root and the common layer on sys.path, a local CA and real SMTP servers."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sluice_local.handlers import Handler, load_handler
from sluice_local.servers.smtp import LocalTls, SmtpServer, local_tls

ROOT = Path(__file__).resolve().parents[3]
CODE_DIR = ROOT / "functions/alert_notifier"
LAYERS = [ROOT / "layers/common"]
EVENTS = ROOT / "events"

USERNAME, PASSWORD = "sluice-alerts", "s3cret-p@ss"  # what the relay accepts

load_handler(CODE_DIR, "app.lambda_handler", LAYERS)


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


@pytest.fixture
def fresh_handler() -> Callable[[], Handler]:
    """A cold start: the handler module loaded anew, so its cached settings/context are new."""
    return lambda: load_handler(CODE_DIR, "app.lambda_handler", LAYERS, container=uuid.uuid4().hex)
