"""The downstream token and URL never reach an error: what http.client checks, we check first.

http.client refuses a header value with a line break in it, and its ValueError quotes the whole
header (``Invalid header value b'Bearer <token>\\n'``): that text would travel to the log,
Splunk, X-Ray, the dead letter's sluice-reason and the alert email.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from downstream import (
    DownstreamMisconfigured,
    DownstreamTimeout,
    DownstreamUnreachable,
    HttpDownstream,
    RetryPolicy,
    send_with_retry,
)
from sluice_local.handlers import Handler
from sluice_local.servers.downstream import DownstreamServer

EVENT = Path(__file__).resolve().parents[3] / "events/process_object_s3_details.json"
POLICY = RetryPolicy(max_attempts=2, base_s=0.01, cap_s=0.02)
BODY = b'{"row": 1}'
TOKEN = "s3cr3t-T0ken"
MISSING = "arn:aws:secretsmanager:us-east-1:123456789012:secret:sluice/gone-AbCdEf"


def send(api: DownstreamServer, headers: dict[str, str], sleeps: Any) -> Any:
    return send_with_retry(
        HttpDownstream(api.url, 2.0), BODY, headers, POLICY, sleep=sleeps, rng=random.Random(1)
    )


def free_port() -> int:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_token_with_trailing_newline_is_stripped_and_never_in_an_error(
    api: DownstreamServer, sleeps: Any
) -> None:
    result = send(api, {"Authorization": f"Bearer {TOKEN}\n", "Idempotency-Key": "k1"}, sleeps)
    assert (result.ok, result.attempts, result.error) == (True, 1, None)
    [request] = api.requests
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize(
    ("token", "problem"),
    [
        (f"{TOKEN}\r\nX-Injected: 1", "has a line break inside it"),
        (f"{TOKEN[:6]}\n{TOKEN[6:]}", "has a line break inside it"),
        (f"{TOKEN}\x00", "has a control character inside it"),
        (f"{TOKEN}\u20ac", "has a non-ASCII character inside it"),
        (" \n", "is empty"),
    ],
)
def test_a_token_http_cannot_carry_fails_before_any_request_naming_the_secret_not_the_token(
    api: DownstreamServer, sleeps: Any, token: str, problem: str
) -> None:
    with pytest.raises(DownstreamMisconfigured) as raised:
        send(api, {"Authorization": f"Bearer {token}"}, sleeps)
    message = str(raised.value)
    assert f"the token in the downstream auth secret (DOWNSTREAM_AUTH_SECRET_ARN) {problem}" in (
        message
    )
    assert TOKEN[:6] not in message and TOKEN[6:] not in message and "Injected" not in message
    assert api.requests == [] and sleeps == []  # every row would fail alike: no retries


def test_a_header_http_client_refuses_is_an_error_that_quotes_no_header(
    api: DownstreamServer,
) -> None:
    # HttpDownstream on its own (no send_with_retry check): http.client's ValueError is caught.
    with pytest.raises(DownstreamMisconfigured) as raised:
        HttpDownstream(api.url, 2.0).post(BODY, {"Authorization": f"Bearer {TOKEN}\n"})
    message = str(raised.value)
    assert "cannot be built (ValueError)" in message and "downstream auth secret" in message
    assert TOKEN not in message and "Bearer" not in message
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_url_userinfo_and_query_never_appear_in_unreachable_or_timeout_errors(
    api: DownstreamServer, sleeps: Any
) -> None:
    secrets = ("us3r", "pa55w0rd", "k3y-in-query")
    gone = f"http://us3r:pa55w0rd@127.0.0.1:{free_port()}/rows?api_key=k3y-in-query"
    with pytest.raises(DownstreamUnreachable) as unreachable:
        HttpDownstream(gone, 0.5).post(BODY, {})
    assert str(unreachable.value).startswith("cannot reach http://127.0.0.1:")
    result = send_with_retry(HttpDownstream(gone, 0.5), BODY, {}, POLICY, sleep=sleeps)
    assert not result.ok and result.error and "cannot reach http://127.0.0.1:" in result.error

    api.configure(timeout_hold_s=1.0)
    api.script("timeout")
    held = api.url.replace("http://", "http://us3r:pa55w0rd@") + "?api_key=k3y-in-query"
    with pytest.raises(DownstreamTimeout) as timeout:
        HttpDownstream(held, 0.2).post(BODY, {})
    assert str(timeout.value).startswith(f"no answer from {api.url}:")

    for text in (str(unreachable.value), result.error, str(timeout.value)):
        assert not any(secret in text for secret in secrets), text


@pytest.fixture
def handler_with_secret(
    fresh_handler: Callable[[], Handler],
    api: DownstreamServer,
    s3: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[[str | None], tuple[Handler, dict[str, Any]]]:
    """The handler with DOWNSTREAM_AUTH_SECRET_ARN naming a secret that holds ``value`` (None:
    a secret that does not exist), and the sample's object stored. The request timeout fits the
    30 s test context (DownstreamTimeoutSeconds' default, 35 s, would postpone the object)."""
    import json

    import boto3

    def make(value: str | None) -> tuple[Handler, dict[str, Any]]:
        arn = MISSING
        if value is not None:
            secrets = boto3.client("secretsmanager")
            arn = secrets.create_secret(Name="sluice/downstream-token", SecretString=value)["ARN"]
        monkeypatch.setenv("DOWNSTREAM_API_URL", api.url)
        monkeypatch.setenv("DOWNSTREAM_AUTH_SECRET_ARN", arn)
        monkeypatch.setenv("DOWNSTREAM_BACKOFF_BASE_SECONDS", "0.01")
        monkeypatch.setenv("DOWNSTREAM_TIMEOUT_SECONDS", "5")
        sample: dict[str, Any] = json.loads(EVENT.read_text())
        details = sample["s3_details"]
        s3.put_object(Bucket=details["bucket"], Key=details["key"], Body=b"id\n1\n2\n")
        return fresh_handler(), sample

    return make


def test_a_secret_saved_with_a_trailing_newline_is_sent_stripped(
    handler_with_secret: Callable[[str | None], tuple[Handler, dict[str, Any]]],
    api: DownstreamServer,
    lambda_context: Any,
) -> None:
    handler, sample = handler_with_secret(f"{TOKEN}\n")  # what `echo token > file` stores
    assert handler(sample, lambda_context)["rows_sent"] == 2
    assert {r.headers["Authorization"] for r in api.requests} == {f"Bearer {TOKEN}"}


def test_a_secret_with_a_line_break_inside_fails_the_object_and_no_log_line_holds_it(
    handler_with_secret: Callable[[str | None], tuple[Handler, dict[str, Any]]],
    api: DownstreamServer,
    lambda_context: Any,
    logs: Callable[[], list[dict[str, Any]]],
) -> None:
    handler, sample = handler_with_secret(f"{TOKEN}\r\nsecond-line")
    with pytest.raises(Exception) as raised:
        handler(sample, lambda_context)
    # The error name Step Functions matches on, and the reason it dead-letters the message with.
    assert type(raised.value).__name__ == "DownstreamMisconfigured"
    assert "downstream auth secret" in str(raised.value)
    assert "line break" in str(raised.value)
    warning = next(line for line in logs() if line.get("message") == "object not processed")
    assert warning["reason"] == str(raised.value)
    for text in (str(raised.value), *map(str, logs())):
        assert TOKEN not in text and "second-line" not in text
    assert api.requests == []


def test_the_auth_token_comes_from_secrets_manager(
    handler_with_secret: Callable[[str | None], tuple[Handler, dict[str, Any]]],
    api: DownstreamServer,
    lambda_context: Any,
) -> None:
    handler, sample = handler_with_secret("tok-123")
    handler(sample, lambda_context)
    assert {r.headers["Authorization"] for r in api.requests} == {"Bearer tok-123"}


def test_an_unreadable_secret_fails_the_object_before_any_request_naming_the_grant(
    handler_with_secret: Callable[[str | None], tuple[Handler, dict[str, Any]]],
    api: DownstreamServer,
    lambda_context: Any,
) -> None:
    handler, sample = handler_with_secret(None)
    with pytest.raises(Exception) as raised:
        handler(sample, lambda_context)
    # Dead-lettered under the name the drain already knows for a misconfigured downstream.
    assert type(raised.value).__name__ == "DownstreamMisconfigured"
    message = str(raised.value)
    assert f"cannot read the downstream auth token from secret {MISSING}" in message
    assert "secretsmanager:GetSecretValue" in message
    assert api.requests == []
