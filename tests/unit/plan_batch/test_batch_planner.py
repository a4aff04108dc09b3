"""PlanBatch: worker stagger and batch size per round, priority order, parse errors kept, last
receives marked, both queues' depths read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sluice_local.handlers import load_handler
from testkit.recursion import recursion_limit

ROOT = Path(__file__).resolve().parents[3]
handler = load_handler(
    ROOT / "functions/plan_batch", "app.lambda_handler", [ROOT / "layers/common"]
)
import batch_planner  # noqa: E402  (importable once the handler's code dir is on the path)

__all__ = ["recursion_limit"]  # a shared fixture

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


def test_items_keep_arrival_order_and_their_queue() -> None:
    items = batch_planner.plan_batch([_message(n) for n in range(3)], "q")
    assert [i["messageId"] for i in items] == ["m0", "m1", "m2"]
    assert {i["queueUrl"] for i in items} == {"q"}
    assert items[1]["s3Details"] == {"bucket": "b", "key": "k1.csv"}


def test_higher_priority_goes_first() -> None:
    messages = [_message(0), _message(1, priority="5"), _message(2, priority="1")]
    items = batch_planner.plan_batch(messages)
    assert [(i["messageId"], i["priority"]) for i in items] == [("m1", 5), ("m2", 1), ("m0", 0)]


def test_workers_start_staggered_by_index_up_to_the_cap() -> None:
    workers = batch_planner.plan_workers(
        SETTINGS, 3, 5, 2, 1234.0, 40.0, object_start_by=1269.0, priority_depth=0
    )
    assert [w["delaySeconds"] for w in workers] == [0, 2, 4, 6, 7]
    assert [w["worker"] for w in workers] == [0, 1, 2, 3, 4]
    assert {
        (w["receive"], w["deadline"], w["objectStartBy"], w["baselineMsPerRow"]) for w in workers
    } == {(2, 1234.0, 1269.0, 40.0)}
    assert {w["priorityWaitSeconds"] for w in workers} == {0}  # empty: short polls, no wait


def test_workers_long_poll_the_priority_queue_while_it_shows_messages() -> None:
    workers = batch_planner.plan_workers(SETTINGS, 3, 2, 2, 1234.0, None, priority_depth=1)
    assert {w["priorityWaitSeconds"] for w in workers} == {1}


@pytest.mark.parametrize(("count", "last"), [("1", False), ("4", False), ("5", True), ("9", True)])
def test_a_messages_last_receive_is_marked(count: str, last: bool) -> None:
    message = {**_message(0), "Attributes": {"ApproximateReceiveCount": count}}
    [item] = batch_planner.plan_batch([message], "q", max_receive_count=5)
    assert item["lastReceive"] is last


@pytest.mark.parametrize(
    ("body", "cause"),
    [
        ("[" * 5000 + "]" * 5000, "nested too deeply"),
        ('{"a":' * 5000 + "1" + "}" * 5000, "nested too deeply"),
    ],
    ids=["arrays", "objects"],
)
def test_deeply_nested_json_is_a_malformed_event_not_a_crash(body: str, cause: str) -> None:
    [item] = batch_planner.plan_batch([{**_message(0), "Body": body}], "q", max_receive_count=5)
    assert item["error"]["Error"] == "MalformedEvent"
    assert cause in item["error"]["Cause"]
    assert item["body"] == body


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _details_with(extra: str) -> str:
    return '{"s3_details": {"bucket": "b", "key": "k.csv"}, "extra": ' + extra + "}"


@pytest.mark.usefixtures("recursion_limit")
@pytest.mark.parametrize(
    "body",
    [
        _nested(4000),
        '{"a":' * 4000 + "1" + "}" * 4000,
        _details_with(_nested(32)),  # 33 levels with the event's own object
        '{"s3_details": {"bucket": "b", "key": ' + _nested(40) + "}}",
    ],
    ids=["arrays", "objects", "a valid event with a deep field", "a deep key"],
)
def test_a_body_nested_deeper_than_any_event_is_refused_whatever_the_interpreter(
    body: str,
) -> None:
    [item] = batch_planner.plan_batch([{**_message(0), "Body": body}], "q", max_receive_count=5)

    assert item["error"] == {
        "Error": "MalformedEvent",
        "Cause": "message body is JSON nested too deeply to read (over 32 levels; an S3 event "
        "has 4)",
    }
    assert item["s3Details"] is None
    assert item["body"] == body


def test_an_event_at_the_depth_bound_is_planned() -> None:  # 32 levels
    [item] = batch_planner.plan_batch(
        [{**_message(0), "Body": _details_with(_nested(31))}], "q", max_receive_count=5
    )
    assert "error" not in item
    assert item["s3Details"] == {"bucket": "b", "key": "k.csv"}


def test_any_error_while_reading_a_message_becomes_its_malformed_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(event: Any) -> Any:
        raise KeyError("a parser bug" * 100)

    monkeypatch.setattr(batch_planner, "parse_object_ref", broken)
    items = batch_planner.plan_batch([_message(0), _message(1)], "q", max_receive_count=5)
    assert [i["error"]["Error"] for i in items] == ["MalformedEvent"] * 2
    assert "KeyError" in items[0]["error"]["Cause"]
    assert len(items[0]["error"]["Cause"]) <= batch_planner.MAX_CAUSE_CHARS


@pytest.mark.parametrize(
    "message",
    [None, "text", ["a"], {"Body": 7, "Attributes": "x", "MessageAttributes": ["p"]}],
    ids=["none", "string", "list", "wrong-types"],
)
def test_a_message_of_the_wrong_shape_becomes_an_item_with_an_error(message: Any) -> None:
    [item] = batch_planner.plan_batch([message], "q", max_receive_count=5)
    assert item["error"]["Error"] == "MalformedEvent"
    assert item["receiveCount"] == 1 and item["lastReceive"] is False


@pytest.mark.parametrize(("depth", "step"), [(0, 2), (10, 2), (20, 1), (200, 0.1)])
def test_stagger_step_shrinks_as_the_backlog_grows(depth: int, step: float) -> None:
    assert batch_planner.stagger_step(SETTINGS, depth) == pytest.approx(step)


def test_deep_backlog_starts_every_worker_at_once() -> None:
    workers = batch_planner.plan_workers(SETTINGS, 1000, 8, 10, 0.0, None)
    assert {w["delaySeconds"] for w in workers} == {0}


@pytest.mark.parametrize(
    ("depth", "concurrency", "seconds_per_object", "expected"),
    [
        (1000, 5, 1.0, 10),  # deep backlog: full batches
        (1000, 5, 30.0, 4),  # slow objects: a batch fits in one 120 s timeout
        (1000, 5, 200.0, 1),  # slower than the timeout: one at a time
        (1000, 5, None, 1),  # pace unknown yet: one at a time
        (20, 5, 1.0, 4),  # each worker's share, so no worker is left holding the tail
        (3, 5, 1.0, 1),
        (0, 1, 1.0, 1),
    ],
)
def test_batch_size_follows_backlog_share_and_object_time(
    depth: int, concurrency: int, seconds_per_object: float | None, expected: int
) -> None:
    size = batch_planner.receive_size(SETTINGS, depth, concurrency, seconds_per_object, 120)
    assert size == expected


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
    [item] = batch_planner.plan_batch([message])
    assert item["error"]["Error"] == error
    assert item["error"]["Cause"]
    assert item["s3Details"] is None
    assert item["body"] == body  # the original body is what gets dead-lettered


@pytest.mark.parametrize("priority", ["high", "NaN", "INF", "-inf", "1e999"])
def test_unreadable_priority_counts_as_zero(priority: str) -> None:
    # Found by the property test: "INF" used to crash PlanBatch and with it the whole batch.
    assert batch_planner.message_priority(_message(0, priority=priority)) == 0


def test_sample_batch_event_runs_through_the_handler(lambda_context: Any) -> None:
    event = json.loads((ROOT / "events/plan_batch_received_messages.json").read_text())
    planned = handler(event, lambda_context)
    items = planned["items"]
    assert [i["messageId"][-1] for i in items] == ["2", "1", "3"]  # priority 9 first
    assert {i["queueUrl"] for i in items} == {event["queueUrl"]}  # deleted where received
    assert items[0]["s3Details"]["key"] == "incoming/urgent orders.csv"
    assert items[1]["s3Details"]["key"] == "incoming/orders.csv"
    assert items[2]["error"]["Error"] == "MalformedEvent"
    assert items[2]["receiveCount"] == 2
    assert [i["lastReceive"] for i in items] == [False, False, False]  # MaxReceiveCount 5
    # The last batch (1 retry in 101 calls, 42 ms a row vs 40) was healthy: go on.
    assert (planned["keepGoing"], planned["stopped"]) == (True, "")
    assert planned["totals"]["objects"] == 1 and planned["totals"]["rows"] == 100


def _batch_event(results: list[dict[str, Any]], deadline: float) -> dict[str, Any]:
    return {
        "action": "batch",
        "messages": [_message(0)],
        "queueUrl": "q",
        "worker": {"worker": 1, "deadline": deadline, "baselineMsPerRow": 10.0},
        "feedback": {"results": results},
        "totals": {"calls": 5, "retries": 0, "rows": 5, "duration_ms": 50, "objects": 1},
    }


def _result(rows: int, retries: int, ms: int) -> dict[str, Any]:
    return {"rowsSent": rows, "rowsFailed": 0, "retries": retries, "durationMs": ms}


def test_a_worker_stops_after_this_batch_when_its_last_one_was_pushed_back(
    lambda_context: Any,
) -> None:
    far = 4102444800.0
    throttled = handler(_batch_event([_result(10, 5, 100)], far), lambda_context)
    assert throttled["keepGoing"] is False
    assert throttled["stopped"] == "backpressure: 33% of calls retried"
    assert [i["messageId"] for i in throttled["items"]] == ["m0"]  # received: still processed
    slow = handler(_batch_event([_result(10, 0, 500)], far), lambda_context)
    assert slow["stopped"] == "backpressure: 50 ms per row vs 10 ms baseline"
    assert slow["totals"] == {
        "calls": 15,
        "retries": 0,
        "rows": 15,
        "duration_ms": 550,
        "objects": 2,
    }


def test_a_worker_stops_after_this_batch_once_the_round_is_over(lambda_context: Any) -> None:
    planned = handler(_batch_event([_result(10, 0, 100)], 1.0), lambda_context)
    assert (planned["keepGoing"], planned["stopped"]) == (False, "round over")


def test_sample_round_event_plans_workers_from_depth_and_feedback(lambda_context: Any) -> None:
    event = json.loads((ROOT / "events/plan_batch_round.json").read_text())
    planned = handler(event, lambda_context)
    # 62 retries in 960 calls (6%) across the round: the ceiling halves from the 5 that ran.
    assert planned["concurrency"] == 2
    assert planned["pace"]["reason"] == "backpressure: 6% of calls retried"
    assert planned["drained"] is False
    assert [w["worker"] for w in planned["workers"]] == [0, 1]
    assert {w["deadline"] for w in planned["workers"]} == {event["deadline"]}
    assert {w["objectStartBy"] for w in planned["workers"]} == {event["objectStartBy"]}
    assert {w["receive"] for w in planned["workers"]} == {10}  # deep backlog, ~4 s objects


# A worker's result when it found both queues empty.
EMPTY = {"stopped": "queue empty", "totals": {}, "last": []}


def _round_event(**fields: Any) -> dict[str, Any]:
    """PlanRound's input with both queues empty and no pace yet; ``fields`` replace or add."""
    event = {"action": "round", "queueDepth": 0, "priorityDepth": 0, "pace": {}, "input": {}}
    return {**event, "deadline": 1.0, **fields}


def test_a_round_after_workers_found_the_queues_empty_says_drained(lambda_context: Any) -> None:
    event = _round_event()
    assert handler({**event, "results": [EMPTY, EMPTY]}, lambda_context)["drained"] is True
    late = {**EMPTY, "stopped": "round over"}
    assert handler({**event, "results": [EMPTY, late]}, lambda_context)["drained"] is False
    assert handler({**event, "results": []}, lambda_context)["drained"] is False  # first round


def test_messages_on_the_priority_queue_keep_the_drain_going(lambda_context: Any) -> None:
    # Every worker's poll came back empty, but the PriorityQueue's depth says otherwise (a
    # short poll samples only some SQS servers): another round, which long-polls it.
    event = _round_event(
        priorityDepth=2, deadline=100.0, objectStartBy=135.0, results=[EMPTY, EMPTY]
    )
    planned = handler(event, lambda_context)
    assert planned["drained"] is False
    assert planned["workers"]
    assert {w["priorityWaitSeconds"] for w in planned["workers"]} == {1}
    assert {w["objectStartBy"] for w in planned["workers"]} == {135.0}


def test_the_last_receive_follows_the_max_receive_count_setting(
    lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_RECEIVE_COUNT", "3")
    fresh = load_handler(
        ROOT / "functions/plan_batch", "app.lambda_handler", [ROOT / "layers/common"], "t-mrc"
    )
    messages = [{**_message(n), "Attributes": {"ApproximateReceiveCount": str(n)}} for n in (2, 3)]
    event = {**_batch_event([], 4102444800.0), "messages": messages}
    planned = fresh(event, lambda_context)
    assert [(i["receiveCount"], i["lastReceive"]) for i in planned["items"]] == [
        (2, False),
        (3, True),
    ]


def test_an_unknown_action_is_refused(lambda_context: Any) -> None:
    with pytest.raises(Exception, match="action must be 'round' or 'batch'"):
        handler({"action": "plan"}, lambda_context)
