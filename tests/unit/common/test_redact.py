"""sluice_common.redact: error text built from a request names no credential."""

from __future__ import annotations

import pytest

from sluice_common.redact import REDACTED, header_value_problem, redact, safe_error, safe_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://us3r:pa55@api.example.com:8443/v1/rows", "https://api.example.com:8443/v1/rows"),
        ("https://:pa55@api.example.com/rows", "https://api.example.com/rows"),
        ("https://us3r@api.example.com/rows", "https://api.example.com/rows"),
        ("https://api.example.com/rows?api_key=pa55#frag", "https://api.example.com/rows"),
        ("http://127.0.0.1:8080/rows", "http://127.0.0.1:8080/rows"),
        (" https://[::1]:9999/e/env \n", "https://[::1]:9999/e/env"),
        ("us3r:pa55@splunk.example.com:8088", "splunk.example.com:8088"),
        ("http://[::1", "<unparseable URL>"),
        ("", ""),
    ],
)
def test_safe_url_keeps_scheme_host_port_and_path_and_drops_userinfo_and_query(
    url: str, shown: str
) -> None:
    assert safe_url(url) == shown
    assert "pa55" not in safe_url(url) and "us3r" not in safe_url(url)


@pytest.mark.parametrize(
    "text",
    [
        # urllib3 and http.client messages as they embed a request's URL or headers.
        "HTTPSConnectionPool(host='api.example.com', port=443): Max retries exceeded with url: "
        "/rows?api_key=pa55 (Caused by NewConnectionError('Failed to establish a connection'))",
        "cannot reach https://us3r:pa55@api.example.com/rows: [Errno 111] Connection refused",
        "Invalid header value b'Bearer pa55\\n'",
        "Invalid header value b'Bearer pa55\\r\\nX-Injected: us3r'",
        "headers: {'Authorization': 'Bearer pa55', 'Content-Type': 'application/json'}",
        "Authorization: Basic pa55",
        "sent Api-Token pa55 to the ingest endpoint",
        "sent Splunk 12345678-pa55-4bcd-8ef0-123456789abc",
    ],
)
def test_redact_takes_out_userinfo_queries_and_authorization_values(text: str) -> None:
    redacted = redact(text)
    assert "pa55" not in redacted and "us3r" not in redacted
    assert REDACTED in redacted or "://api.example.com" in redacted


def test_redact_leaves_a_message_without_credentials_as_it_is() -> None:
    text = (
        "Splunk HEC at https://splunk.example.com:8088/services/collector/event refused the "
        "batch (HTTP 403, code 4 'Invalid token'): put a valid HEC token in secret arn:x"
    )
    assert redact(text) == text


def test_safe_error_names_the_type_and_redacts_the_message() -> None:
    exc = ValueError("Invalid header value b'Bearer pa55\\n'")
    assert safe_error(exc) == f"ValueError: Invalid header value {REDACTED}"
    assert safe_error(TimeoutError()) == "TimeoutError"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("tok-123_ABC.~+/=", None),
        ("two words", None),
        ("", "is empty"),
        ("pa55\n", "has a line break inside it"),
        ("pa\r55", "has a line break inside it"),
        ("pa\t55", "has a control character inside it"),
        ("pa\x7f55", "has a control character inside it"),
        ("pa\u00e955", "has a non-ASCII character inside it"),
    ],
)
def test_header_value_problem_names_the_problem_never_the_value(
    value: str, problem: str | None
) -> None:
    assert header_value_problem(value) == problem
    assert problem is None or "pa" not in problem
