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

from sluice_local.demo import deployed
from sluice_local.invoker import InvocationStats
from sluice_local.runtime import LocalPipeline

ROOT = Path(__file__).resolve().parents[2]
# Uploads under "direct/" do not match the watched prefix: only the messages a test sends exist.
OVERRIDES = {"ObjectKeyPrefix": "watched/", "MaxConcurrency": "3", "StaggerSeconds": "1"}


class TransientError(Exception):
    """Same name as sluice_common's retryable error: what the state machine retries."""


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


def _entered(pipeline: LocalPipeline, execution_arn: str, state: str) -> int:
    events = pipeline.client("stepfunctions").get_execution_history(
        executionArn=execution_arn, maxResults=1000
    )["events"]
    return sum(
        1
        for e in events
        if e["type"].endswith("StateEntered") and e["stateEnteredEventDetails"]["name"] == state
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
    pipeline.dispatcher.stats = InvocationStats()
    yield pipeline, downstream
    pipeline.dispatcher.crash_hook = None
    for queue in ("ObjectQueueUrl", "PriorityQueueUrl", "ObjectDeadLetterQueueUrl"):
        _empty(pipeline, queue)


def _empty(pipeline: LocalPipeline, output_key: str) -> None:
    # Not PurgeQueue: SQS allows one purge per queue per 60 seconds.
    sqs, url = pipeline.client("sqs"), pipeline.outputs[output_key]
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


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
    assert pipeline.dead_letters() == []


def test_transient_error_is_retried_then_succeeds(fresh: Any) -> None:
    pipeline, downstream = fresh
    _put_csv(pipeline, "direct/flaky.csv", rows=3)
    _send(pipeline, _details(pipeline, "direct/flaky.csv"))
    failures = iter([TransientError("S3 answered SlowDown"), TransientError("again")])

    def crash(logical_id: str, event: Any) -> None:
        if logical_id == "ProcessObjectFunction" and (error := next(failures, None)):
            raise error

    pipeline.dispatcher.crash_hook = crash
    execution = _run_drain(pipeline)

    assert execution["status"] == "SUCCEEDED"
    assert pipeline.dispatcher.stats.invocations["ProcessObjectFunction"] == 3
    assert len(downstream.accepted()) == 3
    assert pipeline.dead_letters() == []


def test_missing_object_is_dead_lettered_with_reason_and_deleted_once(fresh: Any) -> None:
    pipeline, _ = fresh
    body = _details(pipeline, "direct/never-uploaded.csv")
    message_id = _send(pipeline, body)

    execution = _run_drain(pipeline)

    assert execution["status"] == "SUCCEEDED"
    [dead] = pipeline.dead_letters()
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
    letters = pipeline.dead_letters()
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
    [dead] = pipeline.dead_letters()
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
