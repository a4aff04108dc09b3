"""What the drain does with each object: every row sent once and the message deleted once; an
object that failed in a way that may pass (a transient error, a timeout) postponed, not retried
inside the drain, or dead-lettered with its reason on its last receive; an object due after the
round's latest start handed back untouched."""

from __future__ import annotations

import time
from typing import Any

import pytest

from sluice_local.emulator.runtime import LocalPipeline
from testkit import drain
from testkit.drain import Stack

FUNCTION_TIMEOUT_S = 3  # the package's deployment (conftest.OVERRIDES)
MAX_RECEIVE_COUNT = 5  # the template's default


class TransientError(Exception):
    """Same name as sluice_common's error for a failure that may pass: the drain postpones."""


def _lambda_error(name: str, message: str) -> Exception:
    """An exception the dispatcher reports with this error type, as Lambda reports its own
    (``Sandbox.Timedout``, ``Lambda.Unknown``: not Python identifiers)."""
    return type(name, (Exception,), {})(message)


def test_happy_path_sends_every_row_once_and_deletes_each_message_once(fresh: Stack) -> None:
    pipeline, downstream = fresh
    for n in range(4):
        drain.put_csv(pipeline, f"direct/ok-{n}.csv", rows=5)
        drain.send(pipeline, drain.details(pipeline, f"direct/ok-{n}.csv"))

    execution = drain.run_drain(pipeline)

    assert execution["status"] == "SUCCEEDED"
    rows = sorted((r.body["key"], r.body["row"]) for r in downstream.accepted())
    assert rows == sorted((f"direct/ok-{n}.csv", row) for n in range(4) for row in range(1, 6))
    assert downstream.duplicate_keys() == {}
    assert drain.entered(pipeline, execution["executionArn"], "DeleteMessage") == 4
    assert pipeline.queue_counts("ObjectQueueUrl") == (0, 0)
    assert drain.dead_letters(pipeline) == []


def test_transient_error_postpones_the_object_and_a_later_drain_processes_it(
    fresh: Stack,
) -> None:
    pipeline, downstream = fresh
    drain.put_csv(pipeline, "direct/flaky.csv", rows=3)
    drain.send(pipeline, drain.details(pipeline, "direct/flaky.csv"))
    failures = iter([TransientError("S3 answered SlowDown")])

    def crash(logical_id: str, event: Any) -> None:
        if logical_id == "ProcessObjectFunction" and (error := next(failures, None)):
            raise error

    pipeline.dispatcher.crash_hook = crash
    first = drain.run_drain(pipeline)

    # Not retried inside the drain (a retry could take another FunctionTimeout): postponed.
    assert first["status"] == "SUCCEEDED"
    assert pipeline.dispatcher.stats.invocations["ProcessObjectFunction"] == 1
    assert drain.entered(pipeline, first["executionArn"], "PostponeMessage") == 1
    assert pipeline.queue_counts("ObjectQueueUrl") == (0, 1)
    time.sleep(FUNCTION_TIMEOUT_S + 0.5)
    second = drain.run_drain(pipeline)

    assert second["status"] == "SUCCEEDED"
    assert pipeline.dispatcher.stats.invocations["ProcessObjectFunction"] == 2
    assert len(downstream.accepted()) == 3
    assert drain.dead_letters(pipeline) == []
    assert pipeline.queue_counts("ObjectQueueUrl") == (0, 0)


def _drain_timing_out(
    pipeline: LocalPipeline, error: str, key: str, earlier_receives: int = 0
) -> tuple[dict[str, Any], str]:
    """One drain of one object (received ``earlier_receives`` times before) whose ProcessObject
    invocation fails as Lambda reports a timeout, ``error``: (the execution, the message id).
    The drain succeeds, and invoked ProcessObject once: no retry inside the drain."""
    drain.put_csv(pipeline, key, rows=3)
    message_id = drain.send(pipeline, drain.details(pipeline, key))
    drain.receive_times(pipeline, "ObjectQueueUrl", earlier_receives)

    def hang(logical_id: str, event: Any) -> None:
        if logical_id == "ProcessObjectFunction":
            raise _lambda_error(error, "Task timed out after 3.00 seconds")

    pipeline.dispatcher.crash_hook = hang
    execution = drain.run_drain(pipeline)

    assert execution["status"] == "SUCCEEDED"
    assert pipeline.dispatcher.stats.invocations["ProcessObjectFunction"] == 1
    return execution, message_id


@pytest.mark.parametrize("error", ["Sandbox.Timedout", "Lambda.Unknown"])
def test_a_timed_out_object_is_postponed_not_retried_in_the_drain(fresh: Stack, error: str) -> None:
    pipeline, _ = fresh
    execution, _ = _drain_timing_out(pipeline, error, "direct/hangs.csv")

    assert drain.entered(pipeline, execution["executionArn"], "PostponeMessage") == 1
    assert pipeline.queue_counts("ObjectQueueUrl") == (0, 1)  # back after one FunctionTimeout
    assert drain.dead_letters(pipeline) == []


@pytest.mark.parametrize("error", ["Sandbox.Timedout", "Lambda.Unknown"])
def test_a_timed_out_object_on_its_last_receive_is_dead_lettered_with_the_reason(
    fresh: Stack, error: str
) -> None:
    pipeline, _ = fresh
    _, message_id = _drain_timing_out(
        pipeline, error, "direct/hangs-always.csv", earlier_receives=MAX_RECEIVE_COUNT - 1
    )

    # Not postponed into SQS's redrive, which would dead-letter it without a reason.
    [dead] = drain.dead_letters(pipeline)
    assert dead.attributes["sluice-error"] == error
    assert "Task timed out" in dead.reason
    assert dead.attributes["sluice-source-message-id"] == message_id
    assert pipeline.queue_counts("ObjectQueueUrl") == (0, 0)


def test_an_object_due_after_its_latest_start_goes_back_untouched(fresh: Stack) -> None:
    pipeline, downstream = fresh
    drain.put_csv(pipeline, "direct/late.csv", rows=2)
    drain.send(pipeline, drain.details(pipeline, "direct/late.csv"))
    holds = iter([True])

    def first_round_already_over(logical_id: str, event: Any, result: Any) -> Any:
        hold = logical_id == "DrainLeaseFunction" and event.get("action") == "hold"
        if hold and next(holds, False):
            return {**result, "objectStartBy": time.time() - 1}
        return result

    pipeline.dispatcher.result_hook = first_round_already_over
    execution = drain.run_drain(pipeline)

    assert execution["status"] == "SUCCEEDED"
    # Every worker of the first round that received it found it too late; the next round ran it.
    *late, done = [i.result for i in pipeline.dispatcher.stats.results("ProcessObjectFunction")]
    assert late and all(r["postponed"] and r["rows_read"] == r["rows_sent"] == 0 for r in late)
    assert done["postponed"] is False and done["rows_sent"] == 2
    assert drain.entered(pipeline, execution["executionArn"], "ReturnMessage") == len(late)
    assert sorted(r.body["row"] for r in downstream.accepted()) == [1, 2]
    assert drain.dead_letters(pipeline) == []
    assert pipeline.queue_counts("ObjectQueueUrl") == (0, 0)
