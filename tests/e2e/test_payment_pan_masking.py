"""A card number sent in a checked payment field, end to end: the event is dead-lettered as it
was sent (the body, for redrive), and no attribute of the dead letter (sluice-reason above all,
which sluice-redrive prints and alerts quote) shows the number."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sluice_local.emulator.runtime import LocalPipeline
from sluice_local.jobs.payments import publish
from testkit.pipelines import PAYMENTS_ON, pipeline_fixture

ROOT = Path(__file__).resolve().parents[2]
TEST_PAN = "4111111111111111"  # Visa's published test number
pytestmark = pytest.mark.e2e


pipeline = pipeline_fixture(PAYMENTS_ON)


def test_a_card_number_in_a_rejected_field_is_masked_in_every_dead_letter_attribute(
    pipeline: LocalPipeline,
) -> None:
    valid = json.loads((ROOT / "events/payment_event.json").read_text())
    changes = {
        "cardCountry": TEST_PAN,
        "customerId": int(TEST_PAN),
        "currency": "4111 1111 1111 1111",
        "occurredAt": "4111-1111-1111-1111",
        "transactionId": f"pay-{TEST_PAN}!",
    }
    bodies = [
        json.dumps({**valid, "transactionId": f"pay-pan-{n}", field: value})
        for n, (field, value) in enumerate(changes.items())
    ]

    publish(pipeline, bodies)
    pipeline.wait_for_pipes(60)

    dead = pipeline.dead_letters("PaymentDeadLetterQueueUrl")
    assert sorted(d.body for d in dead) == sorted(bodies)  # each one, as it was sent
    for letter in dead:
        assert letter.attributes["sluice-error"] == "InvalidPayment"
        shown = json.dumps(letter.attributes).replace(" ", "").replace("-", "")
        assert "1111" not in shown, letter.reason
        assert "*" * 4 in letter.reason
