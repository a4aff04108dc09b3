"""PlanBatch over generated SQS messages: it never raises; every message becomes an item that
either names its object or carries the error it is dead-lettered with. Case counts come from
the hypothesis profile (tests/conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sluice_local.handlers import load_handler

ROOT = Path(__file__).resolve().parents[3]
load_handler(ROOT / "functions/plan_batch", "app.lambda_handler", [ROOT / "layers/common"])
import batch_planner  # noqa: E402

bodies = st.one_of(
    st.none(),
    st.text(max_size=50),
    st.builds(
        lambda bucket, key: json.dumps({"s3_details": {"bucket": bucket, "key": key}}),
        st.text(max_size=10),
        st.text(max_size=30),
    ),
    st.builds(json.dumps, st.dictionaries(st.text(max_size=5), st.integers(), max_size=3)),
    # Nested past any JSON parser's recursion limit (found by hand: RecursionError).
    st.integers(1000, 5000).map(lambda depth: "[" * depth + "]" * depth),
)
attributes = st.dictionaries(
    st.sampled_from(["priority", "other"]),
    st.fixed_dictionaries({}, optional={"StringValue": st.text(max_size=6), "DataType": st.text()}),
    max_size=2,
)
messages = st.fixed_dictionaries(
    {},
    optional={
        "MessageId": st.text(max_size=8),
        "ReceiptHandle": st.text(max_size=8),
        "Body": bodies,
        "MessageAttributes": st.one_of(st.none(), attributes),
        "Attributes": st.fixed_dictionaries(
            {}, optional={"ApproximateReceiveCount": st.integers(0, 9).map(str)}
        ),
    },
)


@given(st.lists(messages, max_size=10))
def test_every_message_becomes_an_item_with_an_object_or_an_error(batch: list[Any]) -> None:
    items = batch_planner.plan_batch(batch, "q", max_receive_count=5)
    assert len(items) == len(batch)
    for item in items:
        if item.get("error"):
            assert item["s3Details"] is None
            assert item["error"]["Error"] and item["error"]["Cause"]
        else:
            assert item["s3Details"]["bucket"] and item["s3Details"]["key"]
        assert item["body"]  # what the dead-letter queue would receive
        assert item["lastReceive"] is (item["receiveCount"] >= 5)
    priorities = [item["priority"] for item in items]
    assert priorities == sorted(priorities, reverse=True)
