"""Merchant details and the risk assessment, rule by rule; the reference data is checked when
loaded, and a broken file says which entry is wrong."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from payment_enrichment import (
    ReferenceData,
    ReferenceDataError,
    enrich_payment,
    load_reference,
    risk_level,
)
from sluice_common.currencies import MINOR_UNITS
from sluice_common.errors import InvalidPayment
from sluice_common.payments import STATUS_BY_TYPE, amount_text
from testkit.sample_events import ENRICHED_AT_M1001, VALIDATED

REFERENCE = Path(__file__).resolve().parents[3] / "functions/enrich_payment/reference"


def processed(**changes: Any) -> dict[str, Any]:
    """ProcessPayment's output for a payment (rate 0, so the risk rules alone vary); a change to
    None leaves the field out."""
    payment: dict[str, Any] = {**VALIDATED, **changes}
    refund = payment["type"] == "REFUND"
    payment.update(
        fee=amount_text(Decimal(0), MINOR_UNITS[payment["currency"]]),
        netAmount=f"-{payment['amount']}" if refund else payment["amount"],
        feeBasisPoints=0,
        status=STATUS_BY_TYPE[payment["type"]],
    )
    return {name: value for name, value in payment.items() if value is not None}


@pytest.fixture(scope="module")
def reference() -> ReferenceData:
    return load_reference(REFERENCE)


def assessed(reference: ReferenceData, **payment: Any) -> tuple[int, str, list[str]]:
    enriched = enrich_payment(processed(**payment), reference)
    return enriched["riskScore"], enriched["riskLevel"], enriched["riskReasons"]


# --- reference data --------------------------------------------------------------------------


def test_the_shipped_reference_data_has_twenty_merchants_each_with_a_category(
    reference: ReferenceData,
) -> None:
    assert sorted(reference.merchants) == [f"m-{n}" for n in range(1001, 1021)]
    assert all(m.mcc in reference.categories for m in reference.merchants.values())
    assert reference.categories["7995"].risk_tier == "HIGH"
    assert reference.merchants["m-1005"].typical_amount == Decimal("1500")  # JPY, scale 0
    assert reference.merchants["m-1008"].typical_amount == Decimal("250.000")  # KWD, scale 3


# --- merchant details ------------------------------------------------------------------------


def test_a_known_merchant_adds_its_name_category_mcc_and_country(reference: ReferenceData) -> None:
    enriched = enrich_payment(processed(), reference)
    assert enriched == {**processed(), **ENRICHED_AT_M1001}


def test_an_unknown_merchant_is_unclassified_without_a_name_or_country(
    reference: ReferenceData,
) -> None:
    enriched = enrich_payment(processed(merchantId="m-9999"), reference)
    assert (enriched["merchantCategory"], enriched["mcc"]) == ("UNCLASSIFIED", "0000")
    assert "merchantName" not in enriched and "merchantCountry" not in enriched
    assert enriched["riskReasons"] == ["merchant m-9999 is not in the reference data"]
    assert (enriched["riskScore"], enriched["riskLevel"]) == (30, "MEDIUM")


# --- risk rules, one by one ------------------------------------------------------------------


def test_a_high_risk_category_adds_50(reference: ReferenceData) -> None:
    assert assessed(reference, merchantId="m-1007", amount="20.00", cardCountry="MT") == (
        50,
        "MEDIUM",
        ["MCC 7995 (GAMBLING) is a high-risk category"],
    )


def test_a_medium_risk_category_adds_20(reference: ReferenceData) -> None:
    assert assessed(
        reference, merchantId="m-1003", amount="99.00", currency="USD", cardCountry="US"
    ) == (20, "LOW", ["MCC 5732 (ELECTRONICS) is a medium-risk category"])


@pytest.mark.parametrize(
    ("amount", "points", "reasons"),
    [
        ("134.99", 0, []),
        (
            "135.00",
            15,
            ["amount 135.00 EUR is at least 3 times the merchant's typical amount 45.00 EUR"],
        ),
        (
            "449.99",
            15,
            ["amount 449.99 EUR is at least 3 times the merchant's typical amount 45.00 EUR"],
        ),
        (
            "450.00",
            30,
            ["amount 450.00 EUR is at least 10 times the merchant's typical amount 45.00 EUR"],
        ),
    ],
)
def test_an_amount_far_above_the_merchants_typical_amount_adds_points(
    reference: ReferenceData, amount: str, points: int, reasons: list[str]
) -> None:
    score, _, found = assessed(reference, amount=amount)
    assert (score, found) == (points, reasons)


def test_the_amount_rule_works_at_every_scale(reference: ReferenceData) -> None:
    # m-1005: JPY (scale 0), typical 1500; m-1008: KWD (scale 3), typical 250.000
    assert (
        assessed(reference, merchantId="m-1005", amount="4500", currency="JPY", cardCountry="JP")[0]
        == 15
    )
    assert assessed(
        reference, merchantId="m-1008", amount="2500.000", currency="KWD", cardCountry="KW"
    )[2] == [
        "MCC 5944 (JEWELRY) is a medium-risk category",
        "amount 2500.000 KWD is at least 10 times the merchant's typical amount 250.000 KWD",
    ]


def test_a_card_from_another_country_than_the_merchant_adds_20(reference: ReferenceData) -> None:
    assert assessed(reference, cardCountry="US") == (
        20,
        "LOW",
        ["card country US differs from the merchant's country DE"],
    )


def test_a_payment_without_a_card_country_is_not_scored_on_it(reference: ReferenceData) -> None:
    assert assessed(reference, cardCountry=None) == (0, "LOW", [])


def test_a_currency_other_than_the_merchants_adds_10_and_skips_the_amount_rule(
    reference: ReferenceData,
) -> None:
    # 4500.00 USD is 100 times 45.00 EUR in number only: no exchange rates, no comparison.
    assert assessed(reference, amount="4500.00", currency="USD") == (
        10,
        "LOW",
        ["currency USD differs from the merchant's currency EUR"],
    )


def test_a_refund_adds_10(reference: ReferenceData) -> None:
    assert assessed(reference, type="REFUND") == (10, "LOW", ["the payment is a refund"])


def test_the_score_is_capped_at_100_with_every_reason_kept(reference: ReferenceData) -> None:
    # 50 (gambling) + 30 (10 x typical) + 20 (card country) + 10 (refund) = 110
    score, level, reasons = assessed(
        reference, merchantId="m-1007", amount="1000.00", cardCountry="US", type="REFUND"
    )
    assert (score, level) == (100, "HIGH")
    assert reasons == [
        "MCC 7995 (GAMBLING) is a high-risk category",
        "amount 1000.00 EUR is at least 10 times the merchant's typical amount 100.00 EUR",
        "card country US differs from the merchant's country MT",
        "the payment is a refund",
    ]


@pytest.mark.parametrize(
    ("score", "level"),
    [(0, "LOW"), (29, "LOW"), (30, "MEDIUM"), (69, "MEDIUM"), (70, "HIGH"), (100, "HIGH")],
)
def test_the_risk_level_follows_the_score(score: int, level: str) -> None:
    assert risk_level(score) == level


def test_a_payment_that_did_not_come_from_processing_is_invalid_payment(
    reference: ReferenceData,
) -> None:
    without_fee = {k: v for k, v in processed().items() if k != "fee"}
    with pytest.raises(InvalidPayment, match=r"payment\.fee must be an amount string, got null"):
        enrich_payment(without_fee, reference)


# --- broken reference data -------------------------------------------------------------------


def broken(tmp_path: Path, file: str, change: Any) -> Path:
    """A copy of the reference data with ``change(document)`` applied to ``file``."""
    shutil.copytree(REFERENCE, tmp_path / "reference")
    path = tmp_path / "reference" / file
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))
    return tmp_path / "reference"


Change = tuple[str, Any]  # (the file, what to do to its document)


def merchant(index: int, **changes: Any) -> Change:
    return "merchants.json", lambda document: document["merchants"][index].update(changes)


def category(index: int, **changes: Any) -> Change:
    return "mcc_categories.json", lambda document: document["categories"][index].update(changes)


def merchants(change: Callable[[dict[str, Any]], None]) -> Change:
    return "merchants.json", change


M, C = "merchants.json: merchants", "mcc_categories.json: categories"
M0 = f"{M}[0] (m-1001)"
BROKEN_FILES: list[tuple[Change, str]] = [
    (merchant(0, mcc="9999"), f"{M0}: mcc '9999' is not in mcc_"),
    (
        merchant(2, typicalAmount="350.0"),
        f"{M}[2] (m-1003): typicalAmount '350.0' is not a positive decimal string with exactly "
        "2 decimal places (USD)",
    ),
    (
        merchant(4, typicalAmount=1500),
        f"{M}[4] (m-1005): typicalAmount must be a non-empty string, got 1500",
    ),
    (merchant(0, currency="XAU"), f"{M0}: currency 'XAU' is not a payable ISO 4217 code"),
    (merchant(0, country="UK"), f"{M0}: country 'UK' is not ISO 3166-1 alpha-2"),
    (merchant(1, merchantId="m-1001"), f"{M}[1]: merchantId m-1001 is listed twice"),
    (merchant(0, merchantId="m 1001"), f"{M}[0]: merchantId 'm 1001' is not a valid id"),
    (merchant(0, name=""), f"{M0}: name must be a non-empty string"),
    (
        merchants(lambda doc: doc.update(merchants=[])),
        "merchants.json must be {'merchants': [...]} with at least one entry",
    ),
    (merchants(lambda doc: doc["merchants"].append("m-1021")), f"{M}[20] is not an object"),
    (category(0, mcc="41"), f"{C}[0]: mcc '41' is not 4 digits"),
    (category(0, mcc="0000"), f"{C}[0]: mcc '0000' is not 4 digits (0000 is reserved)"),
    (category(1, mcc="4121"), f"{C}[1]: mcc 4121 is listed twice"),
    (
        category(0, riskTier="EXTREME"),
        f"{C}[0]: riskTier 'EXTREME' is not one of LOW, MEDIUM, HIGH",
    ),
    (category(0, category="taxi"), f"{C}[0]: category 'taxi' is not UPPER_SNAKE_CASE"),
]


@pytest.mark.parametrize(("change", "reason"), BROKEN_FILES)
def test_a_broken_reference_file_is_a_clear_error(
    tmp_path: Path, change: Change, reason: str
) -> None:
    with pytest.raises(ReferenceDataError) as caught:
        load_reference(broken(tmp_path, *change))
    assert str(caught.value).startswith(reason)


def test_a_reference_file_that_is_not_json_says_where(tmp_path: Path) -> None:
    shutil.copytree(REFERENCE, tmp_path / "reference")
    (tmp_path / "reference/merchants.json").write_text('{"merchants": [')
    with pytest.raises(
        ReferenceDataError,
        match=r"^merchants.json is not JSON: Expecting value at line 1 column 16$",
    ):
        load_reference(tmp_path / "reference")


def test_a_missing_reference_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ReferenceDataError, match=r"^mcc_categories.json cannot be read: "):
        load_reference(tmp_path)
