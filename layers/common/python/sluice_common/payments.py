"""The payment contract between the payment pipeline's steps, and the DynamoDB item it becomes.

Each step returns ``{"payment": ...}`` in camelCase JSON and the next step reads it:

- :class:`ValidatedPayment` (ValidatePayment): the published event's fields, normalized.
- :class:`ProcessedPayment` (ProcessPayment): + ``fee``, ``netAmount``, ``feeBasisPoints``,
  ``status``.
- :class:`EnrichedPayment` (EnrichPayment): + merchant details and the risk assessment.

Amounts (``amount``, ``fee``, ``netAmount``) travel as strings with exactly the currency's
minor-unit scale ("12.30" EUR, "1500" JPY, "1.250" KWD; ``netAmount`` is negative for a refund),
never as JSON numbers: the Lambda runtime parses a step's input with ``float``, which would
round them. In the DynamoDB item they are numbers (``N``) holding that exact decimal string
(DynamoDB drops trailing zeros when it stores a number: a reader re-applies the currency scale).

ProcessPayment and EnrichPayment check their input against this contract (:func:`as_validated`,
:func:`as_processed`): a payment that did not come from the previous step is
:class:`~sluice_common.errors.InvalidPayment`, never a ``KeyError``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from decimal import Context, Decimal, InvalidOperation
from typing import Any, Final, Literal, NotRequired, TypedDict

from sluice_common.countries import ALPHA_2
from sluice_common.currencies import MINOR_UNITS, NO_MINOR_UNIT
from sluice_common.errors import InvalidPayment
from sluice_common.redact import mask_pans

PaymentType = Literal["PAYMENT", "REFUND"]
PAYMENT_TYPES: Final = ("PAYMENT", "REFUND")
STATUS_BY_TYPE: Final[Mapping[str, str]] = {
    "PAYMENT": "SETTLEMENT_PENDING",
    "REFUND": "REFUND_PENDING",
}
RISK_LEVELS: Final = ("LOW", "MEDIUM", "HIGH")

ID_PATTERN: Final = re.compile(r"[A-Za-z0-9._:-]+", re.ASCII)  # transactionId, merchantId
MAX_ID_LENGTH: Final = 64  # transactionId, merchantId, customerId
MAX_DESCRIPTION_LENGTH: Final = 256
SCHEMA_VERSION: Final = 1
# The largest amount accepted, in major units (just under a trillion): far above any real
# payment, and with 4 decimals (CLF) at most 16 digits, well inside DynamoDB's 38.
MAX_AMOUNT: Final = Decimal("999999999999")
MAX_FEE_BASIS_POINTS: Final = 10_000  # 100 %
OCCURRED_AT_FORMAT: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", re.ASCII)
AMOUNT_FIELDS: Final = frozenset({"amount", "fee", "netAmount"})

# Enough digits for any amount here times 10,000 basis points: arithmetic is exact, only
# quantize() rounds, and only where it is told how.
MONEY: Final = Context(prec=40, traps=[InvalidOperation])
_PLAIN_DECIMAL: Final = re.compile(r"-?[0-9]+(?:\.[0-9]+)?", re.ASCII)


class ValidatedPayment(TypedDict):
    transactionId: str
    merchantId: str
    amount: str  # exactly the currency's scale
    currency: str  # ISO 4217, in sluice_common.currencies.MINOR_UNITS
    type: PaymentType
    occurredAt: str  # UTC, "YYYY-MM-DDTHH:MM:SS.mmmZ"
    customerId: NotRequired[str]
    cardCountry: NotRequired[str]  # ISO 3166-1 alpha-2
    description: NotRequired[str]
    schemaVersion: NotRequired[int]  # 1


class ProcessedPayment(ValidatedPayment):
    fee: str  # currency scale; "0.00" for a refund
    netAmount: str  # amount - fee; -amount for a refund
    feeBasisPoints: int  # the rate the fee was charged at (0 for a refund)
    status: str  # SETTLEMENT_PENDING (payment) or REFUND_PENDING (refund)


class EnrichedPayment(ProcessedPayment):
    merchantName: NotRequired[str]  # absent when the merchant is not in the reference data
    merchantCategory: str  # "UNCLASSIFIED" when the merchant is not in the reference data
    mcc: str  # 4 digits; "0000" when the merchant is not in the reference data
    merchantCountry: NotRequired[str]  # absent when the merchant is not in the reference data
    riskScore: int  # 0..100
    riskLevel: str  # LOW (< 30), MEDIUM (< 70), HIGH
    riskReasons: list[str]


SHOWN_CHARS: Final = 40  # of a value quoted in a message: a dead-letter reason stays short


def _cut(text: str) -> str:
    # Masked before it is cut: a cut can leave fewer than 12 digits of a card number, unmasked.
    masked = mask_pans(text)
    return masked if len(masked) <= SHOWN_CHARS else masked[: SHOWN_CHARS - 3] + "..."


def shown(value: str) -> str:
    """A string value as messages quote it: in single quotes, card-number-like digit runs
    masked, a long one cut. Messages reach logs, Splunk, X-Ray and dead-letter reasons."""
    return "'" + _cut(value).replace("'", "\\'") + "'"


def shown_number(value: object) -> str:
    """A number as messages show it: unquoted, card-number-like digit runs masked, cut."""
    return _cut(str(value))


def describe(value: object) -> str:
    """A JSON value's kind and (short) value, for "must be X, got ..." messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, str):
        return f"a string ({shown(value)})"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a number ({shown_number(value)})"


def currency_scale(currency: object, field: str = "currency") -> int:
    """The decimal places of an amount in ``currency``, or :class:`InvalidPayment` saying why
    the value is not a payable ISO 4217 code (``field`` names it in the message)."""
    if not isinstance(currency, str):
        raise InvalidPayment(
            f"{field} must be a 3-letter ISO 4217 code like 'EUR', got {describe(currency)}"
        )
    scale = MINOR_UNITS.get(currency)
    if scale is not None:
        return scale
    if currency in NO_MINOR_UNIT:
        raise InvalidPayment(
            f"{field} '{currency}' is {NO_MINOR_UNIT[currency]}: ISO 4217 defines no minor unit "
            "for it, so it is not payable"
        )
    if currency.upper() in MINOR_UNITS:
        raise InvalidPayment(f"{field} {shown(currency)} must be upper case: '{currency.upper()}'")
    raise InvalidPayment(
        f"{field} {shown(currency)} is not an ISO 4217 code (active alphabetic codes only)"
    )


def quantum(scale: int) -> Decimal:
    """One minor unit: Decimal("0.01") for scale 2, Decimal("1") for scale 0."""
    return Decimal(1).scaleb(-scale)


def amount_text(value: Decimal, scale: int) -> str:
    """``value`` as an amount string at ``scale`` ("12.30"); ``value`` must fit it exactly."""
    quantized = value.quantize(quantum(scale), context=MONEY)
    if quantized != value:
        raise ValueError(f"{value} has more than {scale} decimal places")
    return format(quantized, "f")


def places(scale: int) -> str:
    return f"{scale} decimal place{'' if scale == 1 else 's'}"


def _contract(detail: str, producer: str) -> InvalidPayment:
    return InvalidPayment(f"{detail} (the step input must be {producer}'s output)")


def canonical_amount(
    payment: Mapping[str, Any], field: str, scale: int, producer: str, *, positive: bool = True
) -> Decimal:
    """``payment[field]`` as a Decimal, if it is an amount string at exactly ``scale``."""
    value = payment.get(field)
    if not isinstance(value, str):
        raise _contract(
            f"payment.{field} must be an amount string, got {describe(value)}", producer
        )
    if _PLAIN_DECIMAL.fullmatch(value):
        number = Decimal(value)
        exponent = number.as_tuple().exponent
        if (
            format(number, "f") == value  # written the way amount_text writes it
            and exponent == -scale
            and abs(number) <= MAX_AMOUNT
            and (number > 0 or not positive)
        ):
            return number
    example = amount_text(Decimal(12), scale)
    kind = "a positive amount" if positive else "an amount"
    raise _contract(
        f"payment.{field} {shown(value)} is not {kind} with exactly {places(scale)} "
        f"(e.g. '{example}')",
        producer,
    )


def payment_in(step_input: object, producer: str) -> object:
    """The ``payment`` of a step input ``{"payment": {...}}`` (checked by the caller)."""
    if not isinstance(step_input, dict):
        raise _contract(
            f"step input must be an object {{'payment': {{...}}}}, got {describe(step_input)}",
            producer,
        )
    if "payment" not in step_input:
        raise _contract(
            "step input has no payment: expected {'payment': {...}}, got the keys "
            f"{sorted(_cut(str(key)) for key in step_input)[:10]}",
            producer,
        )
    return step_input["payment"]


def message_id_in(step_input: object) -> str | None:
    """The optional ``messageId`` of a step input (for log correlation only)."""
    value = step_input.get("messageId") if isinstance(step_input, dict) else None
    return value if isinstance(value, str) and value else None


def _text(payment: Mapping[str, Any], field: str, producer: str) -> str:
    value = payment.get(field)
    if not isinstance(value, str) or not value:
        raise _contract(
            f"payment.{field} must be a non-empty string, got {describe(value)}", producer
        )
    return value


def as_validated(value: object, producer: str = "ValidatePayment") -> ValidatedPayment:
    """The payment in a step input, checked against :class:`ValidatedPayment` (the contract's
    fields only: anything else in it is dropped)."""
    if not isinstance(value, dict):
        raise _contract(f"payment must be an object, got {describe(value)}", producer)
    for field in ("transactionId", "merchantId"):
        text = _text(value, field, producer)
        if len(text) > MAX_ID_LENGTH or not ID_PATTERN.fullmatch(text):
            raise _contract(f"payment.{field} {shown(text)} is not a valid id", producer)
    currency = _text(value, "currency", producer)
    try:
        scale = currency_scale(currency, "payment.currency")
    except InvalidPayment as exc:
        raise _contract(str(exc), producer) from None
    canonical_amount(value, "amount", scale, producer)
    kind = value.get("type")
    if kind not in PAYMENT_TYPES:
        raise _contract(
            f"payment.type must be 'PAYMENT' or 'REFUND', got {describe(kind)}", producer
        )
    occurred_at = _text(value, "occurredAt", producer)
    if not OCCURRED_AT_FORMAT.fullmatch(occurred_at):
        raise _contract(
            f"payment.occurredAt {shown(occurred_at)} is not a UTC time like "
            "'2026-03-14T10:41:55.187Z'",
            producer,
        )
    payment: ValidatedPayment = {
        "transactionId": value["transactionId"],
        "merchantId": value["merchantId"],
        "amount": value["amount"],
        "currency": currency,
        "type": "PAYMENT" if kind == "PAYMENT" else "REFUND",
        "occurredAt": occurred_at,
    }
    if "customerId" in value:
        payment["customerId"] = _text(value, "customerId", producer)
    if "cardCountry" in value:
        country = _text(value, "cardCountry", producer)
        if country not in ALPHA_2:
            raise _contract(f"payment.cardCountry {shown(country)} is not a country code", producer)
        payment["cardCountry"] = country
    if "description" in value:
        description = value["description"]
        if not isinstance(description, str):
            raise _contract(
                f"payment.description must be a string, got {describe(description)}", producer
            )
        payment["description"] = description
    if "schemaVersion" in value:
        if value["schemaVersion"] != SCHEMA_VERSION or isinstance(value["schemaVersion"], bool):
            raise _contract(
                f"payment.schemaVersion must be 1, got {describe(value['schemaVersion'])}",
                producer,
            )
        payment["schemaVersion"] = SCHEMA_VERSION
    return payment


def as_processed(value: object, producer: str = "ProcessPayment") -> ProcessedPayment:
    """The payment in a step input, checked against :class:`ProcessedPayment`."""
    validated = as_validated(value, producer)
    if not isinstance(value, dict):  # as_validated refused it already; this tells mypy
        raise _contract(f"payment must be an object, got {describe(value)}", producer)
    scale = MINOR_UNITS[validated["currency"]]
    amount = Decimal(validated["amount"])
    fee = canonical_amount(value, "fee", scale, producer, positive=False)
    net = canonical_amount(value, "netAmount", scale, producer, positive=False)
    rate = value.get("feeBasisPoints")
    if not isinstance(rate, int) or isinstance(rate, bool) or not 0 <= rate <= MAX_FEE_BASIS_POINTS:
        raise _contract(
            f"payment.feeBasisPoints must be an integer from 0 to {MAX_FEE_BASIS_POINTS}, "
            f"got {describe(rate)}",
            producer,
        )
    status = STATUS_BY_TYPE[validated["type"]]
    if value.get("status") != status:
        raise _contract(
            f"payment.status of a {validated['type']} must be '{status}', "
            f"got {describe(value.get('status'))}",
            producer,
        )
    if validated["type"] == "PAYMENT":
        adds_up = 0 <= fee <= amount and net == amount - fee
    else:
        adds_up = fee == 0 and rate == 0 and net == -amount
    if not adds_up:
        raise _contract(
            f"payment.fee {shown(value['fee'])} and netAmount {shown(value['netAmount'])} do not "
            f"add up to amount {shown(validated['amount'])} for a {validated['type']}",
            producer,
        )
    return {
        **validated,
        "fee": value["fee"],
        "netAmount": value["netAmount"],
        "feeBasisPoints": rate,
        "status": status,
    }


def to_dynamodb_item(payment: Mapping[str, object]) -> dict[str, dict[str, Any]]:
    """``payment`` as a DynamoDB item in DynamoDB JSON (what PutItem's ``Item`` takes).

    str -> ``{"S"}``; int and Decimal -> ``{"N": exact decimal string}``; bool -> ``{"BOOL"}``;
    list of str -> ``{"L": [{"S"}, ...]}``; None -> attribute omitted. The amount fields
    (``amount``, ``fee``, ``netAmount``) are decimal strings in the payment and ``N`` here,
    with the string unchanged. A float is refused (``TypeError``): it cannot hold an amount
    exactly, and no step produces one.
    """
    return {name: _attribute(name, value) for name, value in payment.items() if value is not None}


def _number(name: str, value: Decimal) -> dict[str, str]:
    if not value.is_finite():
        raise ValueError(f"{name} is {value}: DynamoDB numbers are finite")
    digits = len(value.as_tuple().digits)
    if digits > 38:
        raise ValueError(f"{name} has {digits} significant digits: DynamoDB keeps at most 38")
    return {"N": format(value, "f")}


def _attribute(name: str, value: object) -> dict[str, Any]:
    if name in AMOUNT_FIELDS and isinstance(value, str):
        if not _PLAIN_DECIMAL.fullmatch(value):
            raise ValueError(f"{name} {value!r} is not a decimal amount string like '12.30'")
        _number(name, Decimal(value))
        return {"N": value}
    if isinstance(value, bool):  # before int: bool is an int
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, Decimal):
        return _number(name, value)
    if isinstance(value, float):
        raise TypeError(f"{name} is a float ({value!r}): use a Decimal or a decimal string")
    if isinstance(value, list) and all(isinstance(element, str) for element in value):
        return {"L": [{"S": element} for element in value]}
    raise TypeError(f"{name} is {type(value).__name__}: a payment item holds no such value")


# The fields of the published event that ValidatePayment keeps: two events are the same event
# when these are equal after validation (what the later steps add follows from them).
EVENT_FIELDS: Final = tuple(ValidatedPayment.__annotations__)


def event_hash(payment: Mapping[str, object]) -> str:
    """SHA-256 of the payment's validated event fields, canonical JSON: equal for a redelivery
    or a producer's retry of the same event, different for another event that reuses its
    transactionId (which the workflow then dead-letters as ConflictingPayment)."""
    fields = {name: payment[name] for name in EVENT_FIELDS if name in payment}
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def payment_item(payment: Mapping[str, object]) -> dict[str, dict[str, Any]]:
    """The PaymentTable item: the payment plus its ``eventHash``."""
    return to_dynamodb_item({**payment, "eventHash": event_hash(payment)})
