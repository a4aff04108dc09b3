"""The real drain ASL on the emulator, substitutions resolved from the deployed template.

Messages are sent straight to the queue (the seeds' s3_details contract) and executions are
started by hand, so each test controls exactly what the state machine sees.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from sluice_local.emulator.inspection import DeadLetter
from sluice_local.emulator.invocations import InvocationStats
from sluice_local.emulator.runtime import LocalPipeline
from sluice_local.jobs.demo import deployed

ROOT = Path(__file__).resolve().parents[2]
# Uploads ("direct/*.csv") do not match the watched suffix, so only the messages a test sends
# exist; the prefix is theirs, as ProcessObject may read only keys under ObjectKeyPrefix.
# FunctionTimeout 3 s: a postponed message (PostponeMessage waits one FunctionTimeout, in real
# time) comes back within a test. A downstream request of at most 1 s then fits an invocation
# (the template's Rules refuse FunctionTimeout 3 with the default 35 s request).
OVERRIDES = {
    "ObjectKeyPrefix": "direct/",
    "ObjectKeySuffix": ".watched",
    "MaxConcurrency": "3",
    "StaggerSeconds": "1",
    "FunctionTimeout": "3",
    "DownstreamTimeoutSeconds": "1",
}
FUNCTION_TIMEOUT_S = 3
MAX_RECEIVE_COUNT = 5  # the template's default


class TransientError(Exception):
    """Same name as sluice_common's error for a failure that may pass: the drain postpones."""


def _lambda_error(name: str, message: str) -> Exception:
    """An exception the dispatcher reports with this error type, as Lambda reports its own
    (``Sandbox.Timedout``, ``Lambda.Unknown``: not Python identifiers)."""
    return type(name, (Exception,), {})(message)


def _put_csv(pipeline: LocalPipeline, key: str, rows: int) -> None:
    body = "id,name\n" + "".join(f"{i},name {i}\n" for i in range(1, rows + 1))
    pipeline.client("s3").put_object(
        Bucket=pipeline.outputs["BucketName"], Key=key, Body=body.encode()
    )


def _send(
    pipeline: LocalPipeline, body: Any, priority: int | None = None, queue: str = "ObjectQueueUrl"
) -> str:
    attributes = (
        {"priority": {"DataType": "Number", "StringValue": str(priority)}}
        if priority is not None
        else {}
    )
    return pipeline.client("sqs").send_message(
        QueueUrl=pipeline.outputs[queue],
        MessageBody=body if isinstance(body, str) else json.dumps(body),
        MessageAttributes=attributes,
    )["MessageId"]


def _details(pipeline: LocalPipeline, key: str) -> dict[str, Any]:
    return {"s3_details": {"bucket": pipeline.outputs["BucketName"], "key": key}}


def _run_drain(
    pipeline: LocalPipeline, timeout: float = 60, payload: dict[str, Any] | None = None
) -> dict[str, Any]:
    sfn = pipeline.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=pipeline.state_machine_arns["DrainStateMachine"],
        name=f"test-{uuid.uuid4().hex[:10]}",
        input=json.dumps(payload or {}),
    )["executionArn"]
    deadline = time.monotonic() + timeout
    while (execution := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "drain did not finish"
        time.sleep(0.05)
    return execution


def _dead_letters(pipeline: LocalPipeline) -> list[DeadLetter]:
    """Every message in ObjectDeadLetterQueue, left in place. A short poll may answer none
    while a few messages wait (SQS's does; so does the emulator's strict mode): receive until
    the queue's count says none is left."""
    sqs, url = pipeline.client("sqs"), pipeline.outputs["ObjectDeadLetterQueueUrl"]
    seen: dict[str, DeadLetter] = {}
    handles = []
    while pipeline.queue_counts("ObjectDeadLetterQueueUrl")[0]:
        for message in sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=60,
            MessageAttributeNames=["All"],
        ).get("Messages", []):
            handles.append(message["ReceiptHandle"])
            attributes = message.get("MessageAttributes", {})
            seen[message["MessageId"]] = DeadLetter(
                message["Body"], {k: v.get("StringValue", "") for k, v in attributes.items()}
            )
    for handle in handles:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
    return list(seen.values())


def _history(pipeline: LocalPipeline, execution_arn: str) -> list[dict[str, Any]]:
    sfn = pipeline.client("stepfunctions")
    return [
        event
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
        for event in page["events"]
    ]


def _entered(pipeline: LocalPipeline, execution_arn: str, state: str) -> int:
    return sum(
        1
        for e in _history(pipeline, execution_arn)
        if e["type"].endswith("StateEntered") and e["stateEnteredEventDetails"]["name"] == state
    )


def _outputs(pipeline: LocalPipeline, execution_arn: str, state: str) -> list[str]:
    """The JSON output of every exit of the named state (nested states included)."""
    return [
        e["stateExitedEventDetails"]["output"]
        for e in _history(pipeline, execution_arn)
        if e["type"].endswith("StateExited") and e["stateExitedEventDetails"]["name"] == state
    ]


def _receive_times(pipeline: LocalPipeline, queue: str, times: int) -> None:
    """Receive the queue's one message ``times`` times, making it visible again each time: as
    earlier drains that did not finish it would have."""
    sqs, url = pipeline.client("sqs"), pipeline.outputs[queue]
    for _ in range(times):
        while not (messages := sqs.receive_message(QueueUrl=url).get("Messages")):
            pass  # a short poll may miss it
        [message] = messages
        sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )


@pytest.fixture(scope="module")
def stack() -> Any:
    with deployed(ROOT / "template.yaml", OVERRIDES) as (pipeline, downstream):
        yield pipeline, downstream


@pytest.fixture
def fresh(stack: Any) -> Any:
    pipeline, downstream = stack
    downstream.reset()
    pipeline.dispatcher.crash_hook = None
    pipeline.dispatcher.result_hook = None
    pipeline.dispatcher.stats = InvocationStats()
    yield pipeline, downstream
    pipeline.dispatcher.crash_hook = None
    pipeline.dispatcher.result_hook = None
    downstream.configure(failure_rate=0.0)
    for queue in ("ObjectQueueUrl", "PriorityQueueUrl", "ObjectDeadLetterQueueUrl"):
        _empty(pipeline, queue)


def _empty(pipeline: LocalPipeline, output_key: str) -> None:
    # Not PurgeQueue: SQS allows one purge per queue per 60 seconds.
    sqs, url = pipeline.client("sqs"), pipeline.outputs[output_key]
    # Until the count says none: a short poll may answer empty while a few messages wait.
    while pipeline.queue_counts(output_key)[0]:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    if pipeline.queue_counts(output_key)[1]:
        # A message the drain postponed or left in flight cannot be received until its
        # visibility timeout ends (and PurgeQueue is once a minute): end it in the emulator.
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.sqs.models import sqs_backends

        queue = sqs_backends[DEFAULT_ACCOUNT_ID][pipeline.region].get_queue(url.rsplit("/", 1)[1])
        for message in list(queue._messages):
            message.change_visibility(0)
        _empty(pipeline, output_key)


def test_happy_path_sends_every_row_once_and_deletes_each_message_once(fresh: Any) -> None:
    pipeline, downstream = fresh
    for n in range(4):
        _put_csv(pipeline, f"direct/ok-{n}.csv", rows=5)
        _send(pipeline, _details(pipeline, f"direct/ok-{n}.csv"))

    execution = _run_drain(pipeline)

    assert execution["status"] == "SUCCEEDED"
    rows = sorted((r.body["key"], r.body["row"]) for r in downstream.accepted())
    assert rows == sorted((f"direct/ok-{n}.csv", row) for n in range(4) for row in range(1, 6))
    assert downstream.duplicate_keys() == {}
    assert _entered(pipeline, execution["executionArn"], "DeleteMessage") == 4
    assert pipeline.queue_counts("ObjectQueueUrl") == (0, 0)
    assert _dead_letters(pipeline) == []


def test_transient_error_postpones_the_object_and_a_later_drain_processes_it(
    fresh: Any,
) -> None:
    pipeline, downstream = fresh
    _put_csv(pipeline, "direct/flaky.csv", rows=3)
    _send(pipeline, _details(pipeline, "direct/flaky.csv"))
    failures = iter([TransientError("S3 answered SlowDown")])

    def crash(logical_id: str, event: Any) -> None:
        if logical_id == "ProcessObjectFunction" and (error := next(failures, None)):
            raise error

    pipeline.dispatcher.crash_hook = crash
    first = _run_drain(pipeline)

    # Not retried inside the drain (a retry could take another FunctionTimeout): postponed.
    assert first["status"] == "SUCCEEDED"
    assert pipeline.dispatcher.stats.invocations["ProcessObjectFunction"] == 1
    assert _entered(pipeline, first["executionArn"], "PostponeMessage") == 1
    assert pipeline.queue_counts("ObjectQueueUrl") == (0, 1)
    time.sleep(FUNCTION_TIMEOUT_S + 0.5)
    second = _run_drain(pipeline)

    assert second["status"] == "SUCCEEDED"
    assert pipeline.dispatcher.stats.invocations["ProcessObjectFunction"] == 2
    assert len(downstream.accepted()) == 3
    assert _dead_letters(pipeline) == []
    assert pipeline.queue_counts("ObjectQueueUrl") == (0, 0)


@pytest.mark.parametrize("error", ["Sandbox.Timedout", "Lambda.Unknown"])
def test_a_timed_out_object_is_postponed_not_retried_in_the_drain(fresh: Any, error: str) -> None:
    pipeline, _ = fresh
    _put_csv(pipeline, "direct/hangs.csv", rows=3)
    _send(pipeline, _details(pipeline, "direct/hangs.csv"))

    def hang(logical_id: str, event: Any) -> None:
        if logical_id == "ProcessObjectFunction":
            raise _lambda_error(error, "Task timed out after 3.00 seconds")

    pipeline.dispatcher.crash_hook = hang
    execution = _run_drain(pipeline)

    assert execution["status"] == "SUCCEEDED"
    assert pipeline.dispatcher.stats.invocations["ProcessObjectFunction"] == 1
    assert _entered(pipeline, execution["executionArn"], "PostponeMessage") == 1
    assert pipeline.queue_counts("ObjectQueueUrl") == (0, 1)  # back after one FunctionTimeout
    assert _dead_letters(pipeline) == []


@pytest.mark.parametrize("error", ["Sandbox.Timedout", "Lambda.Unknown"])
def test_a_timed_out_object_on_its_last_receive_is_dead_lettered_with_the_reason(
    fresh: Any, error: str
) -> None:
    pipeline, _ = fresh
    _put_csv(pipeline, "direct/hangs-always.csv", rows=3)
    message_id = _send(pipeline, _details(pipeline, "direct/hangs-always.csv"))
    _receive_times(pipeline, "ObjectQueueUrl", MAX_RECEIVE_COUNT - 1)

    def hang(logical_id: str, event: Any) -> None:
        if logical_id == "ProcessObjectFunction":
            raise _lambda_error(error, "Task timed out after 3.00 seconds")

    pipeline.dispatcher.crash_hook = hang
    execution = _run_drain(pipeline)

    assert execution["status"] == "SUCCEEDED"
    assert pipeline.dispatcher.stats.invocations["ProcessObjectFunction"] == 1
    # Not postponed into SQS's redrive, which would dead-letter it without a reason.
    [dead] = _dead_letters(pipeline)
    assert dead.attributes["sluice-error"] == error
    assert "Task timed out" in dead.reason
    assert dead.attributes["sluice-source-message-id"] == message_id
    assert pipeline.queue_counts("ObjectQueueUrl") == (0, 0)


def test_an_object_due_after_its_latest_start_goes_back_untouched(fresh: Any) -> None:
    pipeline, downstream = fresh
    _put_csv(pipeline, "direct/late.csv", rows=2)
    _send(pipeline, _details(pipeline, "direct/late.csv"))
    holds = iter([True])

    def first_round_already_over(logical_id: str, event: Any, result: Any) -> Any:
        hold = logical_id == "DrainLeaseFunction" and event.get("action") == "hold"
        if hold and next(holds, False):
            return {**result, "objectStartBy": time.time() - 1}
        return result

    pipeline.dispatcher.result_hook = first_round_already_over
    execution = _run_drain(pipeline)

    assert execution["status"] == "SUCCEEDED"
    # Every worker of the first round that received it found it too late; the next round ran it.
    *late, done = [i.result for i in pipeline.dispatcher.stats.results("ProcessObjectFunction")]
    assert late and all(r["postponed"] and r["rows_read"] == r["rows_sent"] == 0 for r in late)
    assert done["postponed"] is False and done["rows_sent"] == 2
    assert _entered(pipeline, execution["executionArn"], "ReturnMessage") == len(late)
    assert sorted(r.body["row"] for r in downstream.accepted()) == [1, 2]
    assert _dead_letters(pipeline) == []
    assert pipeline.queue_counts("ObjectQueueUrl") == (0, 0)


def test_missing_object_is_dead_lettered_with_reason_and_deleted_once(fresh: Any) -> None:
    pipeline, _ = fresh
    body = _details(pipeline, "direct/never-uploaded.csv")
    message_id = _send(pipeline, body)

    execution = _run_drain(pipeline)

    assert execution["status"] == "SUCCEEDED"
    [dead] = _dead_letters(pipeline)
    assert json.loads(dead.body) == body  # original event: redrivable as-is
    assert dead.attributes["sluice-error"] == "ObjectNotFound"
    assert "direct/never-uploaded.csv" in dead.reason
    assert dead.attributes["sluice-source-message-id"] == message_id
    assert dead.attributes["sluice-execution"] == execution["name"]
    assert _entered(pipeline, execution["executionArn"], "DeleteMessage") == 1
    assert pipeline.queue_counts("ObjectQueueUrl") == (0, 0)


def test_malformed_message_is_dead_lettered_without_invoking_the_processor(fresh: Any) -> None:
    pipeline, _ = fresh
    _send(pipeline, "this is not an event")
    _send(pipeline, {"detail-type": "Object Deleted", "source": "aws.s3", "detail": {}})

    execution = _run_drain(pipeline)

    assert execution["status"] == "SUCCEEDED"
    assert pipeline.dispatcher.stats.invocations["ProcessObjectFunction"] == 0
    letters = _dead_letters(pipeline)
    assert sorted(d.attributes["sluice-error"] for d in letters) == ["MalformedEvent"] * 2
    assert any("not JSON" in d.reason for d in letters)
    assert pipeline.queue_counts("ObjectQueueUrl") == (0, 0)


def test_rows_that_exhaust_retries_dead_letter_the_object_with_row_numbers(fresh: Any) -> None:
    pipeline, downstream = fresh
    _put_csv(pipeline, "direct/rejected.csv", rows=2)
    _send(pipeline, _details(pipeline, "direct/rejected.csv"))
    downstream.configure(failure_rate=1.0, failure_status=422)  # not retryable

    execution = _run_drain(pipeline)
    downstream.configure(failure_rate=0.0)

    assert execution["status"] == "SUCCEEDED"
    [dead] = _dead_letters(pipeline)
    assert dead.attributes["sluice-error"] == "RowsFailed"
    cause = json.loads(dead.reason.split(": ", 1)[1])
    assert cause["rowsFailed"] == 2
    assert [f["row"] for f in cause["failedRows"]] == [1, 2]
    assert "422" in cause["failedRows"][0]["error"]


def test_higher_priority_message_is_processed_first_within_a_batch(fresh: Any) -> None:
    pipeline, downstream = fresh
    for n in range(4):
        _put_csv(pipeline, f"direct/p-{n}.csv", rows=1)
    for n in range(3):
        _send(pipeline, _details(pipeline, f"direct/p-{n}.csv"))
    _send(pipeline, _details(pipeline, "direct/p-3.csv"), priority=9)
    # A pace handed over from an earlier drain: one worker, objects known to be quick, so the
    # worker takes all four in one batch.
    pace = {"ceiling": 1, "changed_at": time.time(), "concurrency": 1, "seconds_per_object": 0.05}

    execution = _run_drain(pipeline, payload={"pace": pace})

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


def test_a_second_drain_ends_at_once_while_one_is_running(fresh: Any) -> None:
    pipeline, downstream = fresh
    downstream.configure(latency_s=0.05)
    for n in range(6):
        _put_csv(pipeline, f"direct/o-{n}.csv", rows=4)
        _send(pipeline, _details(pipeline, f"direct/o-{n}.csv"))
    sfn = pipeline.client("stepfunctions")
    machine = pipeline.state_machine_arns["DrainStateMachine"]
    first = sfn.start_execution(stateMachineArn=machine, name=f"first-{uuid.uuid4().hex[:8]}")
    time.sleep(0.3)
    second = _run_drain(pipeline)
    downstream.configure(latency_s=0.0)
    pipeline.wait_for_executions("DrainStateMachine", timeout=60)

    assert _entered(pipeline, second["executionArn"], "AnotherDrainIsRunning") == 1
    assert _entered(pipeline, first["executionArn"], "QueueDrained") == 1
    assert downstream.peak_in_flight <= 3
    assert len(downstream.accepted()) == 24


def test_the_priority_queue_goes_before_the_backlog(fresh: Any) -> None:
    pipeline, downstream = fresh
    for n in range(12):
        _put_csv(pipeline, f"direct/b-{n}.csv", rows=1)
        _send(pipeline, _details(pipeline, f"direct/b-{n}.csv"))
    _put_csv(pipeline, "direct/urgent.csv", rows=1)
    _send(pipeline, _details(pipeline, "direct/urgent.csv"), queue="PriorityQueueUrl")

    execution = _run_drain(pipeline)

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
    fresh: Any, short_polls_miss: None
) -> None:
    pipeline, downstream = fresh
    _put_csv(pipeline, "direct/urgent-alone.csv", rows=1)
    _send(pipeline, _details(pipeline, "direct/urgent-alone.csv"), queue="PriorityQueueUrl")

    execution = _run_drain(pipeline)

    # The round read the PriorityQueue's depth, so its workers long-polled it (a short poll
    # found nothing), and the drain did not call itself drained with the message waiting.
    assert execution["status"] == "SUCCEEDED"
    assert [r.body["key"] for r in downstream.accepted()] == ["direct/urgent-alone.csv"]
    assert pipeline.queue_counts("PriorityQueueUrl") == (0, 0)


def test_deeply_nested_json_on_the_priority_queue_is_dead_lettered_and_the_drain_succeeds(
    fresh: Any,
) -> None:
    pipeline, downstream = fresh
    nested = "[" * 4000 + "]" * 4000  # past any JSON parser's recursion limit, within 8 KiB
    _send(pipeline, nested, queue="PriorityQueueUrl")
    _put_csv(pipeline, "direct/after-the-bomb.csv", rows=1)
    _send(pipeline, _details(pipeline, "direct/after-the-bomb.csv"))

    execution = _run_drain(pipeline)

    assert execution["status"] == "SUCCEEDED"
    [dead] = _dead_letters(pipeline)
    assert dead.attributes["sluice-error"] == "MalformedEvent"
    assert "nested too deeply" in dead.reason
    assert dead.body == nested  # the original body, redrivable as-is
    assert len(downstream.accepted()) == 1
    for queue in ("ObjectQueueUrl", "PriorityQueueUrl"):
        assert pipeline.queue_counts(queue) == (0, 0)


def test_a_round_of_objects_with_many_failed_rows_keeps_the_workers_state_small(
    fresh: Any,
) -> None:
    pipeline, downstream = fresh
    objects = 12
    for n in range(objects):
        _put_csv(pipeline, f"direct/rejected-{n}.csv", rows=25)
        _send(pipeline, _details(pipeline, f"direct/rejected-{n}.csv"))
    downstream.configure(failure_rate=1.0, failure_status=422)  # every row fails, not retried
    # Three workers that know objects are quick: each takes four objects in one batch.
    pace = {"ceiling": 3, "changed_at": time.time(), "concurrency": 3, "seconds_per_object": 0.05}

    execution = _run_drain(pipeline, payload={"pace": pace})

    assert execution["status"] == "SUCCEEDED"
    letters = _dead_letters(pipeline)
    assert len(letters) == objects
    assert {len(json.loads(d.reason.split(": ", 1)[1])["failedRows"]) for d in letters} == {20}
    arn = execution["executionArn"]
    # The failed rows travel on each object's own path only: never in what a worker keeps,
    # what ProcessBatch returns or what the round collects.
    for state in ("ProcessBatch", "WorkerDone", "Workers", "PlanRound"):
        outputs = _outputs(pipeline, arn, state)
        assert outputs, state
        for output in outputs:
            assert "failedRows" not in output, state
            assert len(output.encode()) < 16 * 1024, (state, len(output.encode()))
    # Each batch's message bodies are gone once ProcessBatch has run.
    assert all("s3_details" not in output for output in _outputs(pipeline, arn, "ProcessBatch"))


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
def small_dead_letter_queue(fresh: Any) -> Any:
    pipeline, _ = fresh
    sqs, url = pipeline.client("sqs"), pipeline.outputs["ObjectDeadLetterQueueUrl"]
    original = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["MaximumMessageSize"])
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"MaximumMessageSize": "1024"})
    yield
    sqs.set_queue_attributes(QueueUrl=url, Attributes=original["Attributes"])


def test_a_reason_too_large_for_the_dead_letter_queue_is_sent_short(
    fresh: Any, aws_message_size_rule: None, small_dead_letter_queue: None
) -> None:
    pipeline, downstream = fresh
    _put_csv(pipeline, "direct/too-many-reasons.csv", rows=25)
    _send(pipeline, _details(pipeline, "direct/too-many-reasons.csv"))
    downstream.configure(failure_rate=1.0, failure_status=422)

    execution = _run_drain(pipeline)

    assert execution["status"] == "SUCCEEDED"
    assert _entered(pipeline, execution["executionArn"], "DeadLetterShortReason") == 1
    [dead] = _dead_letters(pipeline)
    assert dead.attributes["sluice-error"] == "RowsFailed"
    assert dead.reason.startswith("RowsFailed: the full reason did not fit")
    assert execution["executionArn"] in dead.reason
    assert pipeline.queue_counts("ObjectQueueUrl") == (0, 0)


def test_a_message_the_dead_letter_queue_refuses_stays_in_its_queue(
    fresh: Any, aws_message_size_rule: None, small_dead_letter_queue: None
) -> None:
    pipeline, _ = fresh
    too_big = "x" * 2000  # not an event, and larger than the dead-letter queue takes
    _send(pipeline, too_big)

    execution = _run_drain(pipeline)

    assert execution["status"] == "SUCCEEDED"
    assert _entered(pipeline, execution["executionArn"], "LeftInQueue") == 1
    assert _dead_letters(pipeline) == []
    assert pipeline.queue_counts("ObjectQueueUrl") == (0, 1)  # back after the visibility timeout
