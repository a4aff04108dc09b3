"""The one secrets reader: Secrets Manager through Powertools' cache, errors that name the fix.

Every function reads its credentials here (the downstream token, the HEC token, the Dynatrace
token, the SMTP login). A value is cached per container for :data:`SECRET_MAX_AGE_S`, so a
rotated secret is picked up within that time without a call per invocation.
"""

from __future__ import annotations

import json
from typing import Any

from sluice_common.errors import SluiceError

SECRET_MAX_AGE_S = 300


class SecretUnavailable(SluiceError):
    """The secret cannot be read (missing, no permission, KMS refused)."""

    retryable = True


class SecretMalformed(SluiceError):
    """The secret was read but does not hold what the function needs."""


def read_secret(
    arn: str,
    *,
    what: str,
    unavailable: type[Exception] = SecretUnavailable,
    force_fetch: bool = False,
) -> str:
    """The secret string of ``arn`` (``what`` names it in errors, e.g. "the Splunk HEC token").

    Raises ``unavailable`` (a function's own error type, so its DLQ reason and Catch stay as
    they were) when Secrets Manager refuses, with the grants the role needs.
    """
    from aws_lambda_powertools.utilities import parameters

    try:
        value = parameters.get_secret(arn, max_age=SECRET_MAX_AGE_S, force_fetch=force_fetch)
    except parameters.GetParameterError as exc:
        raise unavailable(
            f"cannot read {what} from secret {arn}: {exc}. The function's role needs "
            "secretsmanager:GetSecretValue on it (and kms:Decrypt on its key)"
        ) from None
    # A SecretBinary comes back as bytes: decode it rather than quote its repr.
    return value.decode() if isinstance(value, bytes) else str(value)


def token_from(
    value: str,
    arn: str,
    *,
    what: str,
    malformed: type[Exception] = SecretMalformed,
    field: str = "token",
) -> str:
    """A bearer token stored bare or as ``{"<field>": "..."}``, stripped; refuses empty."""
    token = value.strip()
    if token.startswith("{"):
        try:
            loaded = json.loads(token)
        except ValueError:
            loaded = None
        token = str(loaded.get(field) or "").strip() if isinstance(loaded, dict) else ""
        if not token:
            raise malformed(
                f'secret {arn} is JSON without a "{field}" field: store {what} itself, or '
                f'{{"{field}": "<{what}>"}}'
            )
    if not token:
        raise malformed(f"secret {arn} is empty: store {what}")
    return token


def json_fields(
    value: str, arn: str, names: tuple[str, ...], *, malformed: type[Exception] = SecretMalformed
) -> dict[str, str]:
    """The string fields ``names`` of a JSON secret; refuses non-JSON or a missing/empty field."""
    shape = "{" + ", ".join(f'"{name}": "..."' for name in names) + "}"
    try:
        loaded: Any = json.loads(value)
    except ValueError:
        raise malformed(f"secret {arn} is not JSON: it must be {shape}") from None
    found = {name: loaded.get(name) for name in names} if isinstance(loaded, dict) else {}
    fields = {name: v for name, v in found.items() if isinstance(v, str) and v}
    if len(fields) != len(names):
        raise malformed(f"secret {arn} must hold {shape} (all non-empty strings)")
    return fields
