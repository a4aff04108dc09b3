"""What the drain dead-letters, and how: a missing object or a malformed message with its
reason, once, redrivable as it was sent; rows that exhaust their retries with their numbers;
many failed rows without growing what the workers keep; a reason too large for the queue sent
short; a message the dead-letter queue refuses left in its own queue."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from testkit import drain
from testkit.drain import Stack


def test_missing_object_is_dead_lettered_with_reason_and_deleted_once(fresh: Stack) -> None:
    pipeline, _ = fresh
    body = drain.details(pipeline, "direct/never-uploaded.csv")
    message_id = drain.send(pipeline, body)

    execution = drain.run_drain(pipeline)

    assert execution["status"] == "SUCCEEDED"
    [dead] = drain.dead_letters(pipeline)
    assert json.loads(dead.body) == body  # original event: redrivable as-is
    assert dead.attributes["sluice-error"] == "ObjectNotFound"
    assert "direct/never-uploaded.csv" in dead.reason
    assert dead.attributes["sluice-source-message-id"] == message_id
    assert dead.attributes["sluice-execution"] == execution["name"]
    assert drain.entered(pipeline, execution["executionArn"], "DeleteMessage") == 1
    assert pipeline.queue_counts("ObjectQueueUrl") == (0, 0)


def test_malformed_message_is_dead_lettered_without_invoking_the_processor(fresh: Stack) -> None:
    pipeline, _ = fresh
    drain.send(pipeline, "this is not an event")
    drain.send(pipeline, {"detail-type": "Object Deleted", "source": "aws.s3", "detail": {}})

    execution = drain.run_drain(pipeline)

    assert execution["status"] == "SUCCEEDED"
    assert pipeline.dispatcher.stats.invocations["ProcessObjectFunction"] == 0
    letters = drain.dead_letters(pipeline)
    assert sorted(d.attributes["sluice-error"] for d in letters) == ["MalformedEvent"] * 2
    assert any("not JSON" in d.reason for d in letters)
    assert pipeline.queue_counts("ObjectQueueUrl") == (0, 0)


def test_rows_that_exhaust_retries_dead_letter_the_object_with_row_numbers(fresh: Stack) -> None:
    pipeline, downstream = fresh
    drain.put_csv(pipeline, "direct/rejected.csv", rows=2)
    drain.send(pipeline, drain.details(pipeline, "direct/rejected.csv"))
    downstream.configure(failure_rate=1.0, failure_status=422)  # not retryable

    execution = drain.run_drain(pipeline)
    downstream.configure(failure_rate=0.0)

    assert execution["status"] == "SUCCEEDED"
    [dead] = drain.dead_letters(pipeline)
    assert dead.attributes["sluice-error"] == "RowsFailed"
    cause = json.loads(dead.reason.split(": ", 1)[1])
    assert cause["rowsFailed"] == 2
    assert [f["row"] for f in cause["failedRows"]] == [1, 2]
    assert "422" in cause["failedRows"][0]["error"]


def test_a_round_of_objects_with_many_failed_rows_keeps_the_workers_state_small(
    fresh: Stack,
) -> None:
    pipeline, downstream = fresh
    objects = 12
    for n in range(objects):
        drain.put_csv(pipeline, f"direct/rejected-{n}.csv", rows=25)
        drain.send(pipeline, drain.details(pipeline, f"direct/rejected-{n}.csv"))
    downstream.configure(failure_rate=1.0, failure_status=422)  # every row fails, not retried
    # Three workers that know objects are quick: each takes four objects in one batch.
    pace = {"ceiling": 3, "changed_at": time.time(), "concurrency": 3, "seconds_per_object": 0.05}

    execution = drain.run_drain(pipeline, payload={"pace": pace})

    assert execution["status"] == "SUCCEEDED"
    letters = drain.dead_letters(pipeline)
    assert len(letters) == objects
    assert {len(json.loads(d.reason.split(": ", 1)[1])["failedRows"]) for d in letters} == {20}
    # The failed rows travel on each object's own path only: never in what a worker keeps,
    # what ProcessBatch returns or what the round collects. (The history read once: it is long.)
    events = drain.history(pipeline, execution["executionArn"])
    for state in ("ProcessBatch", "WorkerDone", "Workers", "PlanRound"):
        outputs = drain.exits(events, state)
        assert outputs, state
        for output in outputs:
            assert "failedRows" not in output, state
            assert len(output.encode()) < 16 * 1024, (state, len(output.encode()))
    # Each batch's message bodies are gone once ProcessBatch has run.
    assert all("s3_details" not in output for output in drain.exits(events, "ProcessBatch"))


@pytest.fixture
def aws_message_size_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    """SQS counts message attributes (names, types, values) towards MaximumMessageSize; moto
    counts the body only. Apply AWS's rule for this test."""
    from moto.sqs.exceptions import InvalidParameterValue
    from moto.sqs.models import SQSBackend

    original = SQSBackend.send_message

    def send_message(self: Any, queue_name: str, message_body: str, *args: Any, **kwargs: Any):  # type: ignore[no-untyped-def]
        attributes = kwargs.get("message_attributes") or (args[0] if args else None) or {}
        size = len(message_body.encode()) + sum(
            len(name.encode()) + len(json.dumps(value).encode())
            for name, value in attributes.items()
        )
        limit = self.get_queue(queue_name).maximum_message_size
        if size > limit:
            raise InvalidParameterValue(
                "One or more parameters are invalid. Reason: Message must be shorter than "
                f"{limit} bytes."
            )
        return original(self, queue_name, message_body, *args, **kwargs)

    monkeypatch.setattr(SQSBackend, "send_message", send_message)


@pytest.fixture
def small_dead_letter_queue(fresh: Stack) -> Iterator[None]:
    pipeline, _ = fresh
    sqs, url = pipeline.client("sqs"), pipeline.outputs["ObjectDeadLetterQueueUrl"]
    original = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["MaximumMessageSize"])
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"MaximumMessageSize": "1024"})
    yield
    sqs.set_queue_attributes(QueueUrl=url, Attributes=original["Attributes"])


def test_a_reason_too_large_for_the_dead_letter_queue_is_sent_short(
    fresh: Stack, aws_message_size_rule: None, small_dead_letter_queue: None
) -> None:
    pipeline, downstream = fresh
    drain.put_csv(pipeline, "direct/too-many-reasons.csv", rows=25)
    drain.send(pipeline, drain.details(pipeline, "direct/too-many-reasons.csv"))
    downstream.configure(failure_rate=1.0, failure_status=422)

    execution = drain.run_drain(pipeline)

    assert execution["status"] == "SUCCEEDED"
    assert drain.entered(pipeline, execution["executionArn"], "DeadLetterShortReason") == 1
    [dead] = drain.dead_letters(pipeline)
    assert dead.attributes["sluice-error"] == "RowsFailed"
    assert dead.reason.startswith("RowsFailed: the full reason did not fit")
    assert execution["executionArn"] in dead.reason
    assert pipeline.queue_counts("ObjectQueueUrl") == (0, 0)


def test_a_message_the_dead_letter_queue_refuses_stays_in_its_queue(
    fresh: Stack, aws_message_size_rule: None, small_dead_letter_queue: None
) -> None:
    pipeline, _ = fresh
    too_big = "x" * 2000  # not an event, and larger than the dead-letter queue takes
    drain.send(pipeline, too_big)

    execution = drain.run_drain(pipeline)

    assert execution["status"] == "SUCCEEDED"
    assert drain.entered(pipeline, execution["executionArn"], "LeftInQueue") == 1
    assert drain.dead_letters(pipeline) == []
    assert pipeline.queue_counts("ObjectQueueUrl") == (0, 1)  # back after the visibility timeout
