"""In what order the drain takes objects, and how many drains run: a higher priority first
within a batch, PriorityQueue before the backlog (even when short polls miss its message), and
one drain at a time."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from testkit import drain
from testkit.drain import Stack


def test_higher_priority_message_is_processed_first_within_a_batch(fresh: Stack) -> None:
    pipeline, downstream = fresh
    for n in range(4):
        drain.put_csv(pipeline, f"direct/p-{n}.csv", rows=1)
    for n in range(3):
        drain.send(pipeline, drain.details(pipeline, f"direct/p-{n}.csv"))
    drain.send(pipeline, drain.details(pipeline, "direct/p-3.csv"), priority=9)
    # A pace handed over from an earlier drain: one worker, objects known to be quick, so the
    # worker takes all four in one batch.
    pace = {"ceiling": 1, "changed_at": time.time(), "concurrency": 1, "seconds_per_object": 0.05}

    execution = drain.run_drain(pipeline, payload={"pace": pace})

    assert execution["status"] == "SUCCEEDED"
    batches = [
        i.result
        for i in pipeline.dispatcher.stats.results("PlanBatchFunction")
        if i.result.get("items")
    ]
    assert [item["s3Details"]["key"] for item in batches[0]["items"]] == [
        "direct/p-3.csv",
        "direct/p-0.csv",
        "direct/p-1.csv",
        "direct/p-2.csv",
    ]
    started = sorted((r.started, r.body["key"]) for r in downstream.accepted())
    assert [key for _, key in started] == [i["s3Details"]["key"] for i in batches[0]["items"]]


def test_a_second_drain_ends_at_once_while_one_is_running(fresh: Stack) -> None:
    pipeline, downstream = fresh
    downstream.configure(latency_s=0.05)
    for n in range(6):
        drain.put_csv(pipeline, f"direct/o-{n}.csv", rows=4)
        drain.send(pipeline, drain.details(pipeline, f"direct/o-{n}.csv"))
    sfn = pipeline.client("stepfunctions")
    machine = pipeline.state_machine_arns["DrainStateMachine"]
    first = sfn.start_execution(stateMachineArn=machine, name=f"first-{uuid.uuid4().hex[:8]}")
    time.sleep(0.3)
    second = drain.run_drain(pipeline)
    downstream.configure(latency_s=0.0)
    pipeline.wait_for_executions("DrainStateMachine", timeout=60)

    assert drain.entered(pipeline, second["executionArn"], "AnotherDrainIsRunning") == 1
    assert drain.entered(pipeline, first["executionArn"], "QueueDrained") == 1
    assert downstream.peak_in_flight <= 3
    assert len(downstream.accepted()) == 24


def test_the_priority_queue_goes_before_the_backlog(fresh: Stack) -> None:
    pipeline, downstream = fresh
    for n in range(12):
        drain.put_csv(pipeline, f"direct/b-{n}.csv", rows=1)
        drain.send(pipeline, drain.details(pipeline, f"direct/b-{n}.csv"))
    drain.put_csv(pipeline, "direct/urgent.csv", rows=1)
    drain.send(pipeline, drain.details(pipeline, "direct/urgent.csv"), queue="PriorityQueueUrl")

    execution = drain.run_drain(pipeline)

    assert execution["status"] == "SUCCEEDED"
    items = [
        item
        for i in pipeline.dispatcher.stats.results("PlanBatchFunction")
        for item in i.result.get("items", [])
    ]
    [urgent] = [i for i in items if i["s3Details"]["key"] == "direct/urgent.csv"]
    assert urgent["queueUrl"] == pipeline.outputs["PriorityQueueUrl"]
    # Each of the round's 3 workers looks at the priority queue first: the urgent object is
    # among the first objects started, not behind the 12 that were waiting.
    started = [r.body["key"] for r in sorted(downstream.accepted(), key=lambda r: r.started)]
    assert started.index("direct/urgent.csv") < 3, started
    assert len(downstream.accepted()) == 13
    for queue in ("ObjectQueueUrl", "PriorityQueueUrl"):  # deleted from the queue it came from
        assert pipeline.queue_counts(queue) == (0, 0)


@pytest.fixture
def short_polls_miss(monkeypatch: pytest.MonkeyPatch) -> None:
    """SQS's short poll asks only some of its servers: with few messages queued it may answer
    none. Here every short poll of a queue holding fewer than 10 messages does; moto answers
    from every message."""
    from moto.sqs.models import SQSBackend

    original = SQSBackend.receive_message

    def receive_message(  # type: ignore[no-untyped-def]
        self: Any,
        queue_name: str,
        count: int,
        wait_seconds_timeout: float,
        *args: Any,
        **kwargs: Any,
    ):
        if not wait_seconds_timeout and len(self.get_queue(queue_name).messages) < 10:
            return []
        return original(self, queue_name, count, wait_seconds_timeout, *args, **kwargs)

    monkeypatch.setattr(SQSBackend, "receive_message", receive_message)


def test_a_priority_message_is_processed_even_when_short_polls_miss_it(
    fresh: Stack, short_polls_miss: None
) -> None:
    pipeline, downstream = fresh
    drain.put_csv(pipeline, "direct/urgent-alone.csv", rows=1)
    drain.send(
        pipeline, drain.details(pipeline, "direct/urgent-alone.csv"), queue="PriorityQueueUrl"
    )

    execution = drain.run_drain(pipeline)

    # The round read the PriorityQueue's depth, so its workers long-polled it (a short poll
    # found nothing), and the drain did not call itself drained with the message waiting.
    assert execution["status"] == "SUCCEEDED"
    assert [r.body["key"] for r in downstream.accepted()] == ["direct/urgent-alone.csv"]
    assert pipeline.queue_counts("PriorityQueueUrl") == (0, 0)
