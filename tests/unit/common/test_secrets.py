"""sluice_common.secrets: one reader through Powertools' cache, errors of the caller's type.

Powertools' secrets provider is replaced by a stub (its ``_get`` is what would call Secrets
Manager), so the cache, ``force_fetch`` and the error wrapping are Powertools' own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parameters.base import DEFAULT_PROVIDERS, BaseProvider

from sluice_common.secrets import (
    SECRET_MAX_AGE_S,
    SecretMalformed,
    SecretUnavailable,
    json_fields,
    read_secret,
    token_from,
)

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:sluice/token-AbCdEf"


class StubSecrets(BaseProvider):
    """Answers ``values[name]``, or raises ``refusal``; counts the calls that reach it."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self.refusal: Exception | None = None
        self.calls: list[str] = []

    def _get(self, name: str, **sdk_options: Any) -> str:
        self.calls.append(name)
        if self.refusal is not None:
            raise self.refusal
        return self.values[name]

    def _get_multiple(self, path: str, **sdk_options: Any) -> dict[str, str]:
        raise NotImplementedError


class Refused(Exception):
    """A function's own error type."""


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[StubSecrets]:
    stub = StubSecrets()
    monkeypatch.setitem(DEFAULT_PROVIDERS, "secrets", stub)
    yield stub


def test_a_secret_is_read_once_then_served_from_the_cache(provider: StubSecrets) -> None:
    provider.values[ARN] = "tok-1"
    assert read_secret(ARN, what="the token") == "tok-1"
    provider.values[ARN] = "tok-2"  # rotated: the cached value stands for SECRET_MAX_AGE_S
    assert read_secret(ARN, what="the token") == "tok-1"
    assert provider.calls == [ARN]
    assert read_secret(ARN, what="the token", force_fetch=True) == "tok-2"
    assert provider.calls == [ARN, ARN]
    assert SECRET_MAX_AGE_S == 300


def test_an_unreadable_secret_raises_the_default_error_naming_the_grants(
    provider: StubSecrets,
) -> None:
    provider.refusal = RuntimeError("AccessDeniedException: not authorized")
    with pytest.raises(SecretUnavailable) as raised:
        read_secret(ARN, what="the Splunk HEC token")
    message = str(raised.value)
    assert message.startswith(f"cannot read the Splunk HEC token from secret {ARN}: ")
    assert "AccessDeniedException: not authorized" in message
    assert "secretsmanager:GetSecretValue" in message and "kms:Decrypt" in message
    assert raised.value.retryable
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_an_unreadable_secret_raises_the_callers_error_type(provider: StubSecrets) -> None:
    provider.refusal = RuntimeError("ResourceNotFoundException")
    with pytest.raises(Refused, match="cannot read the downstream auth token from secret"):
        read_secret(ARN, what="the downstream auth token", unavailable=Refused)


@pytest.mark.parametrize(
    ("value", "token"),
    [
        ("tok-1", "tok-1"),
        ("  tok-1\n", "tok-1"),
        ('{"token": " tok-1 "}', "tok-1"),
        ('  {"token": "tok-1", "note": "rotated"}', "tok-1"),
    ],
)
def test_a_token_is_stored_bare_or_as_json(value: str, token: str) -> None:
    assert token_from(value, ARN, what="the HEC token") == token


def test_a_token_under_another_field_name() -> None:
    assert token_from('{"apiToken": "dt0c01.x"}', ARN, what="the token", field="apiToken") == (
        "dt0c01.x"
    )


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", f"secret {ARN} is empty: store the HEC token"),
        (" \n", f"secret {ARN} is empty: store the HEC token"),
        ('{"tok": "x"}', f'secret {ARN} is JSON without a "token" field'),
        ('{"token": ""}', f'secret {ARN} is JSON without a "token" field'),
        ('{"token": 5', f'secret {ARN} is JSON without a "token" field'),
        ('{"token": null}', f'secret {ARN} is JSON without a "token" field'),
    ],
)
def test_a_token_that_is_not_there_is_malformed(value: str, problem: str) -> None:
    with pytest.raises(SecretMalformed) as raised:
        token_from(value, ARN, what="the HEC token")
    assert str(raised.value).startswith(problem)
    with pytest.raises(Refused):
        token_from(value, ARN, what="the HEC token", malformed=Refused)


def test_json_fields_are_the_named_strings() -> None:
    value = '{"username": "alerts", "password": "pw", "port": 587}'
    assert json_fields(value, ARN, ("username", "password")) == {
        "username": "alerts",
        "password": "pw",
    }


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("user:pw", "is not JSON"),
        ('["alerts", "pw"]', "must hold"),
        ('{"username": "alerts"}', "must hold"),
        ('{"username": "alerts", "password": ""}', "must hold"),
        ('{"username": "alerts", "password": 5}', "must hold"),
    ],
)
def test_json_fields_missing_empty_or_not_json_are_malformed(value: str, problem: str) -> None:
    with pytest.raises(Refused) as raised:
        json_fields(value, ARN, ("username", "password"), malformed=Refused)
    message = str(raised.value)
    assert f"secret {ARN} {problem}" in message
    assert '{"username": "...", "password": "..."}' in message
    assert "alerts" not in message  # what the secret holds is never quoted
