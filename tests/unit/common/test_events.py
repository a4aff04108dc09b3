"""Which object an event names, from either accepted shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sluice_common.errors import MalformedEvent
from sluice_common.events import (
    SOURCE_EVENTBRIDGE,
    SOURCE_S3_DETAILS,
    ObjectRef,
    parse_object_ref,
)

EVENTS = Path(__file__).resolve().parents[3] / "events"


def test_s3_details_contract_is_taken_as_given() -> None:
    ref = parse_object_ref(json.loads((EVENTS / "process_object_s3_details.json").read_text()))
    assert ref == ObjectRef("sluice-demo-bucket", "incoming/orders 2024-01-15.csv")
    assert ref.key_candidates() == ["incoming/orders 2024-01-15.csv"]


def test_eventbridge_event_yields_bucket_key_etag_size_and_version() -> None:
    sample = json.loads((EVENTS / "process_object_eventbridge.json").read_text())
    sample["detail"]["object"]["version-id"] = "v1"
    ref = parse_object_ref(sample)
    assert ref == ObjectRef(
        "sluice-demo-bucket",
        "incoming/caf\u00e9 orders+returns.csv",
        version_id="v1",
        etag="b1946ac92492d2347c6235b4d2611184",
        size=87,
        source=SOURCE_EVENTBRIDGE,
    )
    assert ref.key_candidates() == [
        "incoming/caf\u00e9 orders+returns.csv",
        "incoming/caf\u00e9 orders returns.csv",
    ]


def test_moto_style_etag_is_accepted() -> None:
    sample = json.loads((EVENTS / "process_object_eventbridge.json").read_text())
    sample["detail"]["object"] = {"key": "k.csv", "eTag": "e1"}
    assert parse_object_ref(sample).etag == "e1"


@pytest.mark.parametrize(
    "ref",
    [
        ObjectRef("b", "k.csv"),
        ObjectRef("b", "a+b.csv", version_id="v", etag="e", size=3, source=SOURCE_EVENTBRIDGE),
    ],
)
def test_to_s3_details_round_trips(ref: ObjectRef) -> None:
    assert parse_object_ref({"s3_details": ref.to_s3_details()}) == ref
    assert ref.to_s3_details().get("source", SOURCE_S3_DETAILS) == ref.source


PAN = "4111111111111111"


@pytest.mark.parametrize(
    "event",
    [
        {"s3_details": {"bucket": "b", "key": "k", "source": f"card {PAN}"}},
        {"source": f"card {PAN}", "detail-type": "Object Created", "detail": {}},
        {"source": "aws.s3", "detail-type": f"{PAN}", "detail": {}},
        {f"card {PAN}": 1},
    ],
    ids=["s3_details.source", "eventbridge source", "detail-type", "top-level key"],
)
def test_a_rejected_event_value_is_quoted_with_card_numbers_masked(
    event: dict[str, object],
) -> None:
    with pytest.raises(MalformedEvent) as caught:
        parse_object_ref(event)
    assert "4111" not in str(caught.value)
    assert "*" * 12 in str(caught.value)
