"""Deeply nested JSON on the PriorityQueue, through the real drain ASL on the emulator: each such
message is dead-lettered as MalformedEvent with its reason, the drain succeeds, and the other
messages are processed. Run at the recursion limit of this interpreter and at one that lets
CPython 3.11 parse as deep as Lambda's Python 3.13 does (several thousand levels)."""

from __future__ import annotations

import json

import pytest

from testkit import drain
from testkit.drain import Stack
from testkit.recursion import recursion_limit

__all__ = ["recursion_limit"]  # a shared fixture: the two recursion limits

TOO_DEEP = "MalformedEvent: message body is JSON nested too deeply to read"


def test_deeply_nested_json_on_the_priority_queue_is_dead_lettered_and_the_drain_succeeds(
    fresh: Stack,
) -> None:
    pipeline, downstream = fresh
    nested = "[" * 4000 + "]" * 4000  # past any JSON parser's recursion limit, within 8 KiB
    drain.send(pipeline, nested, queue="PriorityQueueUrl")
    drain.put_csv(pipeline, "direct/after-the-bomb.csv", rows=1)
    drain.send(pipeline, drain.details(pipeline, "direct/after-the-bomb.csv"))

    execution = drain.run_drain(pipeline)

    assert execution["status"] == "SUCCEEDED"
    [dead] = drain.dead_letters(pipeline)
    assert dead.attributes["sluice-error"] == "MalformedEvent"
    assert "nested too deeply" in dead.reason
    assert dead.body == nested  # the original body, redrivable as-is
    assert len(downstream.accepted()) == 1
    for queue in ("ObjectQueueUrl", "PriorityQueueUrl"):
        assert pipeline.queue_counts(queue) == (0, 0)


@pytest.mark.usefixtures("recursion_limit")
def test_nested_priority_messages_are_dead_lettered_and_the_rest_is_processed(fresh: Stack) -> None:
    pipeline, downstream = fresh
    for key in ("direct/after-the-bomb.csv", "direct/deep-field.csv", "direct/deep-attribute.csv"):
        drain.put_csv(pipeline, key, rows=1)
    arrays = "[" * 4000 + "]" * 4000  # within the queues' 8 KiB
    objects = '{"a":' * 1300 + "1" + "}" * 1300
    # A valid event for an object that exists, with a field nested past any event's depth.
    deep_field = {
        **drain.details(pipeline, "direct/deep-field.csv"),
        "x": json.loads("[" * 40 + "]" * 40),
    }
    for body in (arrays, objects, json.dumps(deep_field)):
        drain.send(pipeline, body, queue="PriorityQueueUrl")
    pipeline.client("sqs").send_message(  # nesting in an attribute is only text: no harm
        QueueUrl=pipeline.outputs["PriorityQueueUrl"],
        MessageBody=json.dumps(drain.details(pipeline, "direct/deep-attribute.csv")),
        MessageAttributes={
            "priority": {"DataType": "String", "StringValue": "[" * 2000 + "]" * 2000},
        },
    )
    drain.send(pipeline, drain.details(pipeline, "direct/after-the-bomb.csv"))

    execution = drain.run_drain(pipeline)

    assert execution["status"] == "SUCCEEDED"
    letters = drain.dead_letters(pipeline)
    assert sorted(d.body for d in letters) == sorted([arrays, objects, json.dumps(deep_field)])
    for letter in letters:
        assert letter.attributes["sluice-error"] == "MalformedEvent"
        assert letter.reason.startswith(TOO_DEEP), letter.reason
    assert sorted(r.body["key"] for r in downstream.accepted()) == [
        "direct/after-the-bomb.csv",
        "direct/deep-attribute.csv",
    ]
    for queue in ("ObjectQueueUrl", "PriorityQueueUrl"):
        assert pipeline.queue_counts(queue) == (0, 0)
