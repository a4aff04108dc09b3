"""Deeply nested JSON on the PriorityQueue, through the real drain ASL on the emulator: each such
message is dead-lettered as MalformedEvent with its reason, the drain succeeds, and the other
messages are processed. Run at the recursion limit of this interpreter and at one that lets
CPython 3.11 parse as deep as Lambda's Python 3.13 does (several thousand levels)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from test_drain_state_machine import (
    _dead_letters,
    _details,
    _put_csv,
    _run_drain,
    _send,
    fresh,
    stack,
)

from testkit.recursion import recursion_limit

# Shared fixtures: the deployed stack, its per-test reset, and the two recursion limits.
__all__ = ["fresh", "recursion_limit", "stack"]

TOO_DEEP = "MalformedEvent: message body is JSON nested too deeply to read"


@pytest.mark.usefixtures("recursion_limit")
def test_nested_priority_messages_are_dead_lettered_and_the_rest_is_processed(fresh: Any) -> None:
    pipeline, downstream = fresh
    for key in ("direct/after-the-bomb.csv", "direct/deep-field.csv", "direct/deep-attribute.csv"):
        _put_csv(pipeline, key, rows=1)
    arrays = "[" * 4000 + "]" * 4000  # within the queues' 8 KiB
    objects = '{"a":' * 1300 + "1" + "}" * 1300
    # A valid event for an object that exists, with a field nested past any event's depth.
    deep_field = {
        **_details(pipeline, "direct/deep-field.csv"),
        "x": json.loads("[" * 40 + "]" * 40),
    }
    for body in (arrays, objects, json.dumps(deep_field)):
        _send(pipeline, body, queue="PriorityQueueUrl")
    pipeline.client("sqs").send_message(  # nesting in an attribute is only text: no harm
        QueueUrl=pipeline.outputs["PriorityQueueUrl"],
        MessageBody=json.dumps(_details(pipeline, "direct/deep-attribute.csv")),
        MessageAttributes={
            "priority": {"DataType": "String", "StringValue": "[" * 2000 + "]" * 2000},
        },
    )
    _send(pipeline, _details(pipeline, "direct/after-the-bomb.csv"))

    execution = _run_drain(pipeline)

    assert execution["status"] == "SUCCEEDED"
    letters = _dead_letters(pipeline)
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
