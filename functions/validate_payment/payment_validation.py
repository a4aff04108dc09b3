"""A published payment event, checked field by field and normalized for the next steps.

The event is a JSON object (camelCase) published to the payments topic; SNS delivers it raw to
the queue, so an SQS body is the event itself. A body that is an SNS envelope
(``{"Type": "Notification", "Message": "<the event>", ...}``: raw delivery turned off) is
unwrapped once.

Required: ``transactionId``, ``merchantId`` (1..64 of ``[A-Za-z0-9._:-]``), ``amount``,
``currency`` (ISO 4217, active, upper case, with a minor unit), ``type`` (``PAYMENT`` or
``REFUND``), ``occurredAt`` (ISO 8601 with ``Z`` or an offset). Optional: ``customerId``
(1..64 characters), ``cardCountry`` (ISO 3166-1 alpha-2, upper case), ``description`` (at most
256 characters), ``schemaVersion`` (1). An optional field that is null counts as absent.

Decisions:

- Unknown fields are ignored, not rejected: they are left out of the normalized payment (so
  never stored) and their names are returned for the handler to log. A producer may add a
  field before the pipeline knows it; a change that must not be ignored is a new
  ``schemaVersion``, which is rejected. The cost: a misspelt optional field
  (``cardcountry``) is dropped, visibly only in the log.
- The first problem found is the reason, fields checked in this order: transactionId,
  merchantId, currency (the amount's scale depends on it), amount, type, occurredAt, then the
  optional ones. One field, the value seen, what is allowed.
- A key twice in one JSON object is rejected: parsers disagree on which one wins.
- ``amount`` is a plain decimal string ("12.30") or a JSON number, parsed as a Decimal (never
  a float). Rejected: not finite, exponent form (``"1E+3"`` or ``1E3``), surrounding
  whitespace, zero, negative (a refund is ``type`` REFUND with a positive amount), more
  decimal places than the currency's minor unit (as written: ``"12.340"`` EUR has 3),
  above :data:`~sluice_common.payments.MAX_AMOUNT` in major units (999999999999, so
  ``"999999999999.00"`` EUR is the largest). Fewer places are padded and leading zeros
  dropped: ``"12.3"`` and ``"012.3"`` EUR become ``"12.30"``.
- ``occurredAt`` is ``YYYY-MM-DDTHH:MM[:SS[.fraction]]`` then ``Z``, ``±HH:MM``, ``±HHMM`` or
  ``±HH`` (upper-case ``T`` and ``Z``; :mod:`sluice_common.timestamps`, the stream pipeline's
  parser too); it becomes UTC ``YYYY-MM-DDTHH:MM:SS.mmmZ``, the fraction cut (not rounded)
  to milliseconds before it is judged. More than
  :data:`~sluice_common.timestamps.FUTURE_TOLERANCE` after ``now`` is rejected; there is no
  lower bound (a late redelivery is still a payment).

Every rejection is :class:`~sluice_common.errors.InvalidPayment`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from sluice_common.countries import ALPHA_2
from sluice_common.errors import InvalidPayment
from sluice_common.fields import identifier, required, strict_json, unknown_fields
from sluice_common.payments import (
    MAX_AMOUNT,
    MAX_DESCRIPTION_LENGTH,
    MAX_ID_LENGTH,
    PAYMENT_TYPES,
    SCHEMA_VERSION,
    PaymentType,
    ValidatedPayment,
    amount_text,
    currency_scale,
    describe,
    places,
    shown,
    shown_number,
)
from sluice_common.timestamps import parse_utc, utc_text

REQUIRED_FIELDS: Final = ("transactionId", "merchantId", "amount", "currency", "type", "occurredAt")
OPTIONAL_FIELDS: Final = ("customerId", "cardCountry", "description", "schemaVersion")
KNOWN_FIELDS: Final = frozenset(REQUIRED_FIELDS + OPTIONAL_FIELDS)

_PLAIN_DECIMAL: Final = re.compile(r"[0-9]+(?:\.[0-9]+)?", re.ASCII)


@dataclass(frozen=True)
class Validation:
    payment: ValidatedPayment
    ignored_fields: tuple[str, ...] = ()  # unknown field names (at most MAX_LOGGED_FIELDS)
    from_sns_envelope: bool = False  # the body was an SNS envelope (raw delivery is off)


@dataclass(frozen=True)
class _ExponentNumber:
    """A JSON number written with an exponent (1E3): kept as written, so it can be refused."""

    text: str

    def __str__(self) -> str:  # as messages show it: "got a number (1E3)"
        return self.text


def read_step_input(event: object) -> str:
    """The SQS body in ValidatePayment's input ``{"messageId": ..., "body": "<SQS body>"}``."""
    if not isinstance(event, Mapping):
        raise InvalidPayment(
            f"step input must be an object {{'messageId', 'body'}}, got {describe(event)}"
        )
    if "body" not in event:
        raise InvalidPayment(
            "step input has no body: expected {'messageId': ..., 'body': '<the SQS body>'}, "
            f"got the keys {sorted(str(key) for key in event)[:10]}"
        )
    body = event["body"]
    if not isinstance(body, str):
        raise InvalidPayment(
            f"step input's body must be the SQS body as a string, got {describe(body)}: pass "
            "the record's body unparsed (a parsed body would reach Lambda with float amounts)"
        )
    return body


def validate_body(body: str, *, now: datetime) -> Validation:
    """The payment in an SQS body (the event, or an SNS envelope around it), validated."""
    event, from_envelope = parse_body(body)
    validation = validate_event(event, now=now)
    return Validation(validation.payment, validation.ignored_fields, from_envelope)


def parse_body(body: str) -> tuple[dict[str, Any], bool]:
    """The event object in a body, and whether it came out of an SNS envelope."""
    parsed = _json(body, "body")
    if not isinstance(parsed, dict):
        raise InvalidPayment(
            f"body must be a JSON object (the payment event), got {describe(parsed)}"
        )
    if parsed.get("Type") == "Notification" and "Message" in parsed:
        message = parsed["Message"]
        if not isinstance(message, str):
            raise InvalidPayment(
                f"body is an SNS envelope whose Message is not a string: {describe(message)}"
            )
        event = _json(message, "SNS envelope's Message")
        if not isinstance(event, dict):
            raise InvalidPayment(
                "body is an SNS envelope whose Message is not a JSON object (the payment "
                f"event): {describe(event)}"
            )
        return event, True
    return parsed, False


def _json(text: str, what: str) -> Any:
    if not text.strip():
        raise InvalidPayment(f"{what} is empty")
    # NaN and Infinity parse as Decimal: refused as amounts with that reason, never floats.
    return strict_json(text, what, InvalidPayment, parse_float=_json_float, allow_constants=Decimal)


def _json_float(text: str) -> Decimal | _ExponentNumber:
    return _ExponentNumber(text) if "e" in text or "E" in text else Decimal(text)


def validate_event(event: Mapping[str, Any], *, now: datetime) -> Validation:
    """The payment event ``event`` (a parsed JSON object), validated and normalized.

    ``now`` (aware) bounds ``occurredAt``; the handler passes the current time.
    """
    transaction_id = identifier(event, "transactionId", InvalidPayment)
    merchant_id = identifier(event, "merchantId", InvalidPayment)
    currency = required(event, "currency", InvalidPayment)
    scale = currency_scale(currency)  # before amount: the amount's scale depends on it
    amount = normalize_amount(required(event, "amount", InvalidPayment), currency, scale)
    kind = _payment_type(required(event, "type", InvalidPayment))
    occurred_at = normalize_occurred_at(required(event, "occurredAt", InvalidPayment), now=now)
    payment: ValidatedPayment = {
        "transactionId": transaction_id,
        "merchantId": merchant_id,
        "amount": amount,
        "currency": currency,
        "type": kind,
        "occurredAt": occurred_at,
    }
    if event.get("customerId") is not None:
        payment["customerId"] = _text(event, "customerId", MAX_ID_LENGTH, allow_empty=False)
    if event.get("cardCountry") is not None:
        payment["cardCountry"] = _country(event["cardCountry"])
    if event.get("description") is not None:
        payment["description"] = _text(
            event, "description", MAX_DESCRIPTION_LENGTH, allow_empty=True
        )
    if event.get("schemaVersion") is not None:
        payment["schemaVersion"] = _schema_version(event["schemaVersion"])
    return Validation(payment, unknown_fields(event, KNOWN_FIELDS))


def _text(event: Mapping[str, Any], field: str, limit: int, *, allow_empty: bool) -> str:
    value = event[field]
    if not isinstance(value, str):
        raise InvalidPayment(f"{field} must be a string, got {describe(value)}")
    if not value and not allow_empty:
        raise InvalidPayment(f"{field} is empty; leave it out instead")
    if len(value) > limit:
        raise InvalidPayment(f"{field} has {len(value)} characters; at most {limit} are allowed")
    return value


def normalize_amount(value: object, currency: str, scale: int) -> str:
    """``value`` (a decimal string, or a JSON number parsed as Decimal/int) as an amount string
    with exactly ``scale`` decimal places; :class:`InvalidPayment` with the reason otherwise."""
    if isinstance(value, _ExponentNumber):
        raise InvalidPayment(
            f"amount {value.text} is in exponent form; send a plain decimal such as '12.30'"
        )
    if isinstance(value, str):
        number = _decimal_from_text(value)
        seen = shown(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number, seen = Decimal(value), str(value)
    elif isinstance(value, Decimal):
        number, seen = value, str(value)
    else:
        raise InvalidPayment(f"amount must be a decimal string like '12.30', got {describe(value)}")
    if not number.is_finite():
        raise InvalidPayment(f"amount {seen} is not a finite number")
    if number < 0:
        raise InvalidPayment(
            f"amount {seen} is negative; send a refund as type 'REFUND' with a positive amount"
        )
    if number == 0:
        raise InvalidPayment(f"amount {seen} is zero; a payment moves a positive amount")
    written = max(0, -int(number.as_tuple().exponent))
    if written > scale:
        raise InvalidPayment(f"amount {seen} has {places(written)}; {currency} allows {scale}")
    if number > MAX_AMOUNT:
        raise InvalidPayment(
            f"amount {seen} is above the largest amount accepted, {MAX_AMOUNT} {currency}"
        )
    return amount_text(number, scale)


def _decimal_from_text(value: str) -> Decimal:
    seen = shown(value)
    if not value:
        raise InvalidPayment("amount is an empty string")
    if value != value.strip():
        raise InvalidPayment(f"amount {seen} has leading or trailing whitespace")
    if _PLAIN_DECIMAL.fullmatch(value):
        return Decimal(value)
    if value.startswith("-") and _PLAIN_DECIMAL.fullmatch(value[1:]):
        return Decimal(value)  # refused as negative, with that reason
    try:
        number = Decimal(value)
    except InvalidOperation:
        number = None
    if number is not None and not number.is_finite():
        raise InvalidPayment(f"amount {seen} is not a finite number")
    if number is not None and ("e" in value or "E" in value):
        raise InvalidPayment(
            f"amount {seen} is in exponent form; send a plain decimal such as '12.30'"
        )
    raise InvalidPayment(
        f"amount {seen} is not a plain decimal: digits with an optional '.' and fraction, "
        "e.g. '12.30'"
    )


def _payment_type(value: object) -> PaymentType:
    if value == "PAYMENT":
        return "PAYMENT"
    if value == "REFUND":
        return "REFUND"
    hint = " (upper case)" if isinstance(value, str) and value.upper() in PAYMENT_TYPES else ""
    seen = shown(value) if isinstance(value, str) else describe(value)
    raise InvalidPayment(f"type {seen} must be 'PAYMENT' or 'REFUND'{hint}")


def normalize_occurred_at(value: object, *, now: datetime) -> str:
    """``value`` (ISO 8601 with a timezone) as UTC ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
    moment = parse_utc(
        value,
        "occurredAt",
        InvalidPayment,
        now=now,
        ahead="in the future (it is {now} now)",
        example_day="2026-03-14",
        zone_word="timezone",
    )
    return utc_text(moment)


def _country(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidPayment(
            f"cardCountry must be an ISO 3166-1 alpha-2 code like 'DE', got {describe(value)}"
        )
    if value in ALPHA_2:
        return value
    if value.upper() in ALPHA_2:
        raise InvalidPayment(f"cardCountry {shown(value)} must be upper case: '{value.upper()}'")
    raise InvalidPayment(
        f"cardCountry {shown(value)} is not an ISO 3166-1 alpha-2 country code (e.g. 'DE')"
    )


def _schema_version(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value == SCHEMA_VERSION:
        return SCHEMA_VERSION
    if isinstance(value, int) and not isinstance(value, bool):
        raise InvalidPayment(
            f"schemaVersion {shown_number(value)} is not supported; this pipeline reads "
            f"schemaVersion {SCHEMA_VERSION}"
        )
    raise InvalidPayment(
        f"schemaVersion must be the number {SCHEMA_VERSION}, got {describe(value)}"
    )
