"""The sample payment the payment pipeline's tests share, at each step, and the event builder
the payment and stream tests share (:func:`changed`, :data:`MISSING`).

It is the payment in events/ (pay-20261102-000417 at m-1001, Frischmarkt Berlin): the unit
tests of every step and of the contract vary it, so each can be read against the samples.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

# ValidatePayment's output for the sample event without customerId, description, schemaVersion.
VALIDATED: Final[Mapping[str, Any]] = {
    "transactionId": "pay-20261102-000417",
    "merchantId": "m-1001",
    "amount": "42.50",
    "currency": "EUR",
    "type": "PAYMENT",
    "occurredAt": "2026-11-02T09:41:55.187Z",
    "cardCountry": "DE",
}
# The sample event's optional fields besides cardCountry.
OPTIONAL: Final[Mapping[str, Any]] = {
    "customerId": "c-88412",
    "description": "Weekly groceries",
    "schemaVersion": 1,
}
# What EnrichPayment adds for m-1001 when no risk rule applies.
ENRICHED_AT_M1001: Final[Mapping[str, Any]] = {
    "merchantName": "Frischmarkt Berlin GmbH",
    "merchantCategory": "GROCERY",
    "mcc": "5411",
    "merchantCountry": "DE",
    "riskScore": 0,
    "riskLevel": "LOW",
    "riskReasons": [],
}


class _Missing:
    """A field left out of an event (a stable repr: both xdist workers collect the same ids)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


def changed(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` applied; a change to :data:`MISSING` removes the field."""
    event = {**base, **changes}
    return {name: value for name, value in event.items() if value is not MISSING}
