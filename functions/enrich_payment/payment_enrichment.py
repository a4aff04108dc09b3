"""A processed payment with its merchant's details and a risk assessment; deterministic, no I/O
past reading the reference data.

Reference data (shipped in ``reference/`` beside this module, validated when loaded):

- ``merchants.json``: ``{"merchants": [{"merchantId", "name", "mcc", "country" (ISO 3166-1
  alpha-2), "currency" (ISO 4217), "typicalAmount" (a decimal string at that currency's
  scale)}, ...]}``.
- ``mcc_categories.json``: ``{"categories": [{"mcc" (4 digits), "category" (UPPER_SNAKE),
  "description", "riskTier" (LOW, MEDIUM or HIGH)}, ...]}``; every merchant's MCC is in it.

A merchant that is not in the reference data gets ``merchantCategory`` UNCLASSIFIED and
``mcc`` "0000"; ``merchantName`` and ``merchantCountry`` are left out (unknown, not invented).

Risk score: the points of every rule that applies, capped at 100; each rule that applies adds
its reason to ``riskReasons`` (in this order):

==============================================================  ======
rule                                                            points
==============================================================  ======
the merchant is not in the reference data                       30
the merchant's MCC is a HIGH-risk category (gambling, ...)      50
the merchant's MCC is a MEDIUM-risk category (electronics, ...) 20
amount >= 10 x the merchant's typicalAmount (same currency)     30
amount >= 3 x the merchant's typicalAmount (same currency)      15
cardCountry differs from the merchant's country                 20
currency differs from the merchant's currency                   10
the payment is a REFUND                                         10
==============================================================  ======

The amount rules compare only amounts in the merchant's currency (no exchange rates here: a
payment in another currency scores the currency rule instead); of the two amount rules only
the higher applies. ``riskLevel``: LOW below 30,
MEDIUM below 70, HIGH from 70.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from sluice_common.countries import ALPHA_2
from sluice_common.currencies import MINOR_UNITS
from sluice_common.payments import (
    ID_PATTERN,
    MAX_ID_LENGTH,
    EnrichedPayment,
    ProcessedPayment,
    as_processed,
    places,
)

MERCHANTS_FILE: Final = "merchants.json"
CATEGORIES_FILE: Final = "mcc_categories.json"
UNKNOWN_MCC: Final = "0000"
UNKNOWN_CATEGORY: Final = "UNCLASSIFIED"

UNKNOWN_MERCHANT_POINTS: Final = 30
TIER_POINTS: Final[Mapping[str, int]] = MappingProxyType({"LOW": 0, "MEDIUM": 20, "HIGH": 50})
FAR_ABOVE_TYPICAL: Final = (Decimal(10), 30)  # (times the typical amount, points)
ABOVE_TYPICAL: Final = (Decimal(3), 15)
CARD_COUNTRY_POINTS: Final = 20
CURRENCY_POINTS: Final = 10
REFUND_POINTS: Final = 10
MAX_SCORE: Final = 100
LEVEL_FROM: Final[Mapping[str, int]] = MappingProxyType({"HIGH": 70, "MEDIUM": 30})  # else LOW

_MCC: Final = re.compile(r"[0-9]{4}", re.ASCII)
_CATEGORY: Final = re.compile(r"[A-Z][A-Z0-9_]*", re.ASCII)
_PLAIN_DECIMAL: Final = re.compile(r"[0-9]+(?:\.[0-9]+)?", re.ASCII)


class ReferenceDataError(Exception):
    """A reference data file is missing or does not hold what this module expects."""


@dataclass(frozen=True)
class Category:
    mcc: str
    category: str
    description: str
    risk_tier: str  # LOW, MEDIUM, HIGH


@dataclass(frozen=True)
class Merchant:
    merchant_id: str
    name: str
    mcc: str
    country: str
    currency: str
    typical_amount: Decimal


@dataclass(frozen=True)
class ReferenceData:
    merchants: Mapping[str, Merchant]
    categories: Mapping[str, Category]


@dataclass(frozen=True)
class Risk:
    score: int
    level: str
    reasons: tuple[str, ...]


def load_reference(directory: Path) -> ReferenceData:
    """Read and check both reference files; ReferenceDataError naming the file, the entry and
    the problem if either is broken."""
    categories: dict[str, Category] = {}
    for index, entry in _entries(directory / CATEGORIES_FILE, "categories"):
        where = f"{CATEGORIES_FILE}: categories[{index}]"
        mcc = _field(entry, "mcc", where)
        if not _MCC.fullmatch(mcc) or mcc == UNKNOWN_MCC:
            raise ReferenceDataError(f"{where}: mcc {mcc!r} is not 4 digits (0000 is reserved)")
        if mcc in categories:
            raise ReferenceDataError(f"{where}: mcc {mcc} is listed twice")
        category = _field(entry, "category", where)
        if not _CATEGORY.fullmatch(category):
            raise ReferenceDataError(f"{where}: category {category!r} is not UPPER_SNAKE_CASE")
        tier = _field(entry, "riskTier", where)
        if tier not in TIER_POINTS:
            raise ReferenceDataError(
                f"{where}: riskTier {tier!r} is not one of {', '.join(TIER_POINTS)}"
            )
        categories[mcc] = Category(mcc, category, _field(entry, "description", where), tier)

    merchants: dict[str, Merchant] = {}
    for index, entry in _entries(directory / MERCHANTS_FILE, "merchants"):
        where = f"{MERCHANTS_FILE}: merchants[{index}]"
        merchant_id = _field(entry, "merchantId", where)
        if len(merchant_id) > MAX_ID_LENGTH or not ID_PATTERN.fullmatch(merchant_id):
            raise ReferenceDataError(f"{where}: merchantId {merchant_id!r} is not a valid id")
        if merchant_id in merchants:
            raise ReferenceDataError(f"{where}: merchantId {merchant_id} is listed twice")
        where = f"{where} ({merchant_id})"
        mcc = _field(entry, "mcc", where)
        if mcc not in categories:
            raise ReferenceDataError(f"{where}: mcc {mcc!r} is not in {CATEGORIES_FILE}")
        country = _field(entry, "country", where)
        if country not in ALPHA_2:
            raise ReferenceDataError(f"{where}: country {country!r} is not ISO 3166-1 alpha-2")
        currency = _field(entry, "currency", where)
        if currency not in MINOR_UNITS:
            raise ReferenceDataError(
                f"{where}: currency {currency!r} is not a payable ISO 4217 code"
            )
        merchants[merchant_id] = Merchant(
            merchant_id=merchant_id,
            name=_field(entry, "name", where),
            mcc=mcc,
            country=country,
            currency=currency,
            typical_amount=_typical_amount(_field(entry, "typicalAmount", where), currency, where),
        )
    return ReferenceData(MappingProxyType(merchants), MappingProxyType(categories))


def _entries(path: Path, key: str) -> list[tuple[int, Mapping[str, Any]]]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    except OSError as exc:
        raise ReferenceDataError(f"{path.name} cannot be read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ReferenceDataError(
            f"{path.name} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    entries = document.get(key) if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ReferenceDataError(f"{path.name} must be {{{key!r}: [...]}} with at least one entry")
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ReferenceDataError(f"{path.name}: {key}[{index}] is not an object")
    return list(enumerate(entries))


def _field(entry: Mapping[str, Any], name: str, where: str) -> str:
    value = entry.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ReferenceDataError(f"{where}: {name} must be a non-empty string, got {value!r}")
    return value


def _typical_amount(text: str, currency: str, where: str) -> Decimal:
    scale = MINOR_UNITS[currency]
    if _PLAIN_DECIMAL.fullmatch(text):
        value = Decimal(text)
        if value > 0 and value.as_tuple().exponent == -scale:
            return value
    raise ReferenceDataError(
        f"{where}: typicalAmount {text!r} is not a positive decimal string with exactly "
        f"{places(scale)} ({currency})"
    )


def enrich_payment(payment: object, reference: ReferenceData) -> EnrichedPayment:
    """``payment`` (ProcessPayment's output) with merchant details and its risk assessment."""
    processed = as_processed(payment)
    merchant = reference.merchants.get(processed["merchantId"])
    category = reference.categories[merchant.mcc] if merchant else None
    risk = assess_risk(processed, merchant, category)
    enriched: EnrichedPayment = {
        **processed,
        "merchantCategory": category.category if category else UNKNOWN_CATEGORY,
        "mcc": category.mcc if category else UNKNOWN_MCC,
        "riskScore": risk.score,
        "riskLevel": risk.level,
        "riskReasons": list(risk.reasons),
    }
    if merchant:
        enriched["merchantName"] = merchant.name
        enriched["merchantCountry"] = merchant.country
    return enriched


def assess_risk(
    payment: ProcessedPayment, merchant: Merchant | None, category: Category | None
) -> Risk:
    """The score, level and reasons of the rules in the module docstring's table."""
    found: list[tuple[int, str]] = []
    if merchant is None:
        found.append(
            (
                UNKNOWN_MERCHANT_POINTS,
                f"merchant {payment['merchantId']} is not in the reference data",
            )
        )
    if category is not None and TIER_POINTS[category.risk_tier]:
        found.append(
            (
                TIER_POINTS[category.risk_tier],
                f"MCC {category.mcc} ({category.category}) is a "
                f"{category.risk_tier.lower()}-risk category",
            )
        )
    if merchant is not None:
        amount, currency = Decimal(payment["amount"]), payment["currency"]
        if currency == merchant.currency:
            for times, points in (FAR_ABOVE_TYPICAL, ABOVE_TYPICAL):
                if amount >= times * merchant.typical_amount:
                    found.append(
                        (
                            points,
                            f"amount {payment['amount']} {currency} is at least {times} times "
                            f"the merchant's typical amount {merchant.typical_amount} {currency}",
                        )
                    )
                    break
        card_country = payment.get("cardCountry")
        if card_country is not None and card_country != merchant.country:
            found.append(
                (
                    CARD_COUNTRY_POINTS,
                    f"card country {card_country} differs from the merchant's country "
                    f"{merchant.country}",
                )
            )
        if currency != merchant.currency:
            found.append(
                (
                    CURRENCY_POINTS,
                    f"currency {currency} differs from the merchant's currency {merchant.currency}",
                )
            )
    if payment["type"] == "REFUND":
        found.append((REFUND_POINTS, "the payment is a refund"))
    score = min(MAX_SCORE, sum(points for points, _ in found))
    return Risk(score, risk_level(score), tuple(reason for _, reason in found))


def risk_level(score: int) -> str:
    return next((level for level, low in LEVEL_FROM.items() if score >= low), "LOW")
