"""sluice doctor's downstream check: DownstreamApiUrl as the functions would take it, then DNS,
a TCP connect and a TLS handshake, without an HTTP request."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator

import pytest

from sluice_ops.checks import FAIL, OK
from sluice_ops.downstream_check import Connector, check_downstream


def refuse(exc: OSError) -> Connector:
    def connector(host: str, port: int, tls: bool, timeout: float) -> str:
        raise exc

    return connector


def test_an_empty_downstream_is_the_simulated_one() -> None:
    assert check_downstream("").status == OK


@pytest.mark.parametrize(
    "url, why",
    [
        ("http://api.example.com/rows", "plain http"),
        ("https://user:pw@api.example.com/", "userinfo"),
        ("ftp://api.example.com/", "not an https"),
    ],
)
def test_a_url_the_functions_would_refuse_fails_before_any_connection(url: str, why: str) -> None:
    check = check_downstream(url, refuse(OSError("must not connect")))
    assert check.status == FAIL
    assert why in check.detail
    assert "pw" not in check.detail


def test_dns_tls_and_connect_failures_each_say_what_failed() -> None:
    unresolved = check_downstream(
        "https://nowhere.invalid/", refuse(socket.gaierror(-2, "Name or service not known"))
    )
    assert unresolved.status == FAIL and "does not resolve" in unresolved.detail
    untrusted = check_downstream(
        "https://self-signed.example:8443/", refuse(ssl.SSLCertVerificationError("bad cert"))
    )
    assert untrusted.status == FAIL and "self-signed.example:8443" in untrusted.detail
    assert "TLS handshake" in untrusted.detail
    closed = check_downstream("https://api.example.com/", refuse(ConnectionRefusedError()))
    assert closed.status == FAIL and "api.example.com:443" in closed.detail


def test_a_reachable_https_downstream_is_handshaken_on_its_port() -> None:
    seen: list[tuple[str, int, bool]] = []

    def connector(host: str, port: int, tls: bool, timeout: float) -> str:
        seen.append((host, port, tls))
        return "TLS handshake done (TLSv1.3)"

    check = check_downstream("https://api.example.com/v1/rows", connector)
    assert check.status == OK
    assert seen == [("api.example.com", 443, True)]


@pytest.fixture
def listener() -> Iterator[int]:
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(server.accept()[0]), daemon=True)
    thread.start()
    yield server.getsockname()[1]
    thread.join(timeout=5)
    for connection in accepted:
        connection.close()
    server.close()


def test_plain_http_to_loopback_is_connected_to_without_a_request(listener: int) -> None:
    check = check_downstream(f"http://127.0.0.1:{listener}/rows")
    assert check.status == OK, check.detail
    assert "accepts connections" in check.detail
