"""``downstream``: DownstreamApiUrl as the functions would take it, then reached without a
request (see :mod:`sluice_ops.doctor`)."""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Callable
from urllib.parse import urlsplit

from sluice_ops.checks import FAIL, OK, Check

NETWORK_TIMEOUT_S = 5.0


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


Connector = Callable[[str, int, bool, float], str]


def connect(host: str, port: int, tls: bool, timeout: float) -> str:
    """DNS, a TCP connect and (for https) a verified TLS handshake; no HTTP request. Returns
    what was reached; raises OSError (socket.gaierror, ssl.SSLError, TimeoutError) otherwise."""
    addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    with socket.create_connection((host, port), timeout=timeout) as raw:
        if not tls:
            return f"{addresses[0][4][0]} accepts connections"
        context = ssl.create_default_context()
        with context.wrap_socket(raw, server_hostname=host) as secured:
            return f"{addresses[0][4][0]}: TLS handshake done ({secured.version()})"


def check_downstream(url: str, connector: Connector = connect) -> Check:
    name = "downstream"
    text = url.strip()
    if not text:
        return Check(name, OK, "DownstreamApiUrl empty: the built-in simulated downstream")
    scheme, _, rest = text.partition("://")
    try:
        parts = urlsplit(text)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return Check(name, FAIL, "DownstreamApiUrl is not a valid URL", "check its host and port")
    if "@" in rest.partition("/")[0]:
        return Check(
            name,
            FAIL,
            "DownstreamApiUrl has userinfo (user:password@)",
            "remove it; put the token in DownstreamAuthSecretArn's secret",
        )
    if scheme.lower() not in {"http", "https"} or not host:
        return Check(name, FAIL, "DownstreamApiUrl is not an https:// URL", "use https://host/path")
    tls = scheme.lower() == "https"
    if not tls and not _loopback(host):
        return Check(
            name,
            FAIL,
            f"DownstreamApiUrl is plain http to {host}: the token and rows would cross the "
            "network unencrypted",
            "use https:// (plain http only to localhost, 127.0.0.0/8, [::1])",
        )
    port = port or (443 if tls else 80)
    try:
        reached = connector(host, port, tls, NETWORK_TIMEOUT_S)
    except socket.gaierror as exc:
        return Check(name, FAIL, f"{host} does not resolve ({exc})", "check the host name")
    except ssl.SSLError as exc:
        return Check(
            name,
            FAIL,
            f"TLS handshake with {host}:{port} failed ({exc})",
            "the server must present a certificate valid for the host, from a public CA",
        )
    except OSError as exc:
        return Check(
            name,
            FAIL,
            f"cannot connect to {host}:{port} ({exc})",
            "check the port and that this network may reach it (the functions, in their "
            "VPC if VpcSubnetIds is set, need the same)",
        )
    return Check(name, OK, f"{host}:{port}: {reached}")
