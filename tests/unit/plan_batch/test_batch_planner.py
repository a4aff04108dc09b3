"""PlanBatch: priority order, stagger delays from rank and backlog, parse errors kept."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sluice_local.handlers import load_handler

ROOT = Path(__file__).resolve().parents[3]
handler = load_handler(
    ROOT / "functions/plan_batch", "app.lambda_handler", [ROOT / "layers/common"]
)
import batch_planner  # noqa: E402  (importable once the handler's code dir is on the path)

SETTINGS = batch_planner.StaggerSettings(stagger_seconds=2, max_stagger_seconds=7, batch_size=10)


def _message(n: int, key: str | None = None, priority: str | None = None) -> dict[str, Any]:
    body = {"s3_details": {"bucket": "b", "key": key or f"k{n}.csv"}}
    attributes = {"priority": {"StringValue": priority, "DataType": "Number"}} if priority else {}
    return {
        "MessageId": f"m{n}",
        "ReceiptHandle": f"r{n}",
        "Body": json.dumps(body),
        "Attributes": {"ApproximateReceiveCount": "1"},
        "MessageAttributes": attributes,
    }


def test_items_keep_arrival_order_and_get_rank_times_step_delays() -> None:
    items = batch_planner.plan_batch([_message(n) for n in range(3)], 3, SETTINGS)
    assert [i["messageId"] for i in items] == ["m0", "m1", "m2"]
    assert [i["delaySeconds"] for i in items] == [0, 2, 4]
    assert items[1]["s3Details"] == {"bucket": "b", "key": "k1.csv"}


def test_higher_priority_goes_first_with_no_delay() -> None:
    messages = [_message(0), _message(1, priority="5"), _message(2, priority="1")]
    items = batch_planner.plan_batch(messages, 3, SETTINGS)
    assert [(i["messageId"], i["priority"], i["delaySeconds"]) for i in items] == [
        ("m1", 5, 0),
        ("m2", 1, 2),
        ("m0", 0, 4),
    ]


def test_delays_never_exceed_the_cap() -> None:
    items = batch_planner.plan_batch([_message(n) for n in range(10)], 10, SETTINGS)
    assert max(i["delaySeconds"] for i in items) == 7


@pytest.mark.parametrize(("depth", "step"), [(0, 2), (10, 2), (20, 1), (200, 0.1)])
def test_stagger_step_shrinks_as_the_backlog_grows(depth: int, step: float) -> None:
    assert batch_planner.stagger_step(SETTINGS, depth) == pytest.approx(step)


def test_deep_backlog_starts_the_whole_batch_at_once() -> None:
    items = batch_planner.plan_batch([_message(n) for n in range(10)], 1000, SETTINGS)
    assert {i["delaySeconds"] for i in items} == {0}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("not json", "MalformedEvent"),
        ("[1, 2]", "MalformedEvent"),
        (json.dumps({"s3_details": {"bucket": "b"}}), "MalformedEvent"),
        (json.dumps({"s3_details": {"bucket": "b", "key": "folder/"}}), "NotCsv"),
    ],
)
def test_unparsable_messages_carry_an_error_for_the_dead_letter_queue(
    body: str, error: str
) -> None:
    message = {**_message(0), "Body": body}
    [item] = batch_planner.plan_batch([message], 1, SETTINGS)
    assert item["error"]["Error"] == error
    assert item["error"]["Cause"]
    assert item["s3Details"] is None
    assert item["body"] == body  # the original body is what gets dead-lettered


def test_unreadable_priority_counts_as_zero() -> None:
    assert batch_planner.message_priority(_message(0, priority="high")) == 0


def test_sample_event_runs_through_the_handler(lambda_context: Any) -> None:
    event = json.loads((ROOT / "events/plan_batch_received_messages.json").read_text())
    planned = handler(event, lambda_context)
    items = planned["items"]
    assert [i["messageId"][-1] for i in items] == ["2", "1", "3"]  # priority 9 first
    assert {i["queueUrl"] for i in items} == {event["queueUrl"]}  # deleted where received
    assert planned["concurrency"] == 2  # MinConcurrency 1 + one batch of backlog
    assert items[0]["s3Details"]["key"] == "incoming/urgent orders.csv"
    assert items[1]["s3Details"]["key"] == "incoming/orders.csv"
    assert items[2]["error"]["Error"] == "MalformedEvent"
    assert items[2]["receiveCount"] == 2
