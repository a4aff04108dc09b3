"""Issue 14's defects put back, one per test, in a copy of the template or its state machines.

Issue 15's acceptance: each defect of issue 14 would now fail a local run. Each test below
deploys a copy (template.yaml, and statemachine/ copied beside it so its ``DefinitionUri`` names
the edited ASL) with one fix reverted, and shows the strict local runtime failing the run as AWS
would; the same scenario passes with the real template and ASL, here or in the test named.

Elsewhere: defects 1 (log delivery), 2 (lease DeleteItem), 3 (payment key) and the S3 read
grant in ``test_iam_enforcement.py``. Defect 5 (the Express 5-minute limit) is not put back
here: the emulator's limit is 300 s of wall clock, so three FunctionTimeouts in one execution
take more than five minutes to fail; ``tests/template/test_drain_limits.py``,
``tests/unit/drain_lease/test_lease.py`` and ``tests/integration/drain_asl/``
guard it, and ``tests/integration/test_aws_limits.py`` the emulator's limit itself.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from samtranslator.yaml_helper import yaml_parse

from sluice_local.emulator import fixes as emulator_fixes
from sluice_local.emulator.invocations import InvocationStats
from sluice_local.emulator.runtime import LocalPipeline
from sluice_local.jobs.demo import deployed, run_job, sample_objects
from sluice_local.jobs.payments import publish, stored_items
from sluice_local.servers.downstream import DownstreamServer
from testkit import drain as by_hand  # `drain` is a fixture here

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
pytestmark = pytest.mark.e2e

Definition = dict[str, Any]


# -- copies ----------------------------------------------------------------------------------
def _copy(
    directory: Path,
    asl: dict[str, Callable[[Definition], None]] | None = None,
) -> Path:
    """template.yaml beside its code and a copy of statemachine/, with ``asl[file]`` applied to
    that file's definition. The template's DefinitionUri values are relative: they name the
    copies."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("functions", "layers"):
        (directory / name).symlink_to(ROOT / name)
    shutil.copytree(ROOT / "statemachine", directory / "statemachine")
    for file, edit in (asl or {}).items():
        path = directory / "statemachine" / file
        definition = json.loads(path.read_text())
        edit(definition)
        path.write_text(json.dumps(definition, indent=2))
    template = yaml_parse((ROOT / "template.yaml").read_text())
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::StateMachine":
            uri = resource["Properties"]["DefinitionUri"]
            assert (directory / uri).resolve().is_relative_to(directory.resolve()), uri
    path = directory / "template.yaml"
    path.write_text(json.dumps(template))
    return path


def _iteration_states(definition: Definition, *path: str) -> dict[str, Any]:
    """The States of the Map states named by ``path``, nested in that order."""
    states = definition["States"]
    for name in path:
        states = states[name]["ItemProcessor"]["States"]
    return states


def _renamed_next(value: Any, old: str, new: str) -> None:
    """Every ``Next`` (and Catch ``Next``) that names ``old`` names ``new``."""
    if isinstance(value, dict):
        if value.get("Next") == old:
            value["Next"] = new
        for inner in value.values():
            _renamed_next(inner, old, new)
    elif isinstance(value, list):
        for inner in value:
            _renamed_next(inner, old, new)


# -- the drain, run by hand ------------------------------------------------------------------
# Only the messages a test sends exist (uploads, "direct/*.csv", miss the watched suffix; the
# prefix is theirs, as ProcessObject may read only keys under ObjectKeyPrefix). One attempt per
# row. The downstream's route is long (about 2 KB), and a row that cannot reach it fails with an
# error naming it, so an object's 20 listed failed rows make about 40 KB.
LONG_ROUTE = "/rows/" + "tenant-route-" * 150
DRAIN_OVERRIDES = {
    "ObjectKeyPrefix": "direct/",
    "ObjectKeySuffix": ".watched",
    "MaxConcurrency": "2",
    "StaggerSeconds": "0",
    "DownstreamMaxAttempts": "1",
}


@contextmanager
def _drain_stack(template: Path) -> Iterator[tuple[LocalPipeline, DownstreamServer]]:
    with DownstreamServer() as downstream:
        overrides = {**DRAIN_OVERRIDES, "DownstreamApiUrl": downstream.url + LONG_ROUTE}
        with LocalPipeline(template, overrides, time_scale=0.02) as pipeline:
            yield pipeline, downstream


# Class-scoped, for TestTheRealDrain only: moto is one emulator per process, so this stack must
# be gone before a test deploys a copy.
@pytest.fixture(scope="class")
def real_drain() -> Iterator[tuple[LocalPipeline, DownstreamServer]]:
    with _drain_stack(ROOT / "template.yaml") as stack:
        yield stack


@pytest.fixture
def drain(
    real_drain: tuple[LocalPipeline, DownstreamServer],
) -> Iterator[tuple[LocalPipeline, DownstreamServer]]:
    pipeline, downstream = real_drain
    downstream.reset()
    pipeline.dispatcher.stats = InvocationStats()
    yield real_drain
    downstream.configure(timeout_rate=0.0)


# -- defect 7: a worker's state carried every failed row -------------------------------------
FAILING_OBJECTS, FAILING_ROWS = 8, 20  # ProcessObject lists at most 20 failed rows an object


def _keep_failed_rows(definition: Definition) -> None:
    """As before the fix (1c3d39c): what a worker keeps of an object includes its failedRows,
    so they flow into the batch's results, WorkerDone and the round's results."""
    keep = _iteration_states(definition, "Workers", "ProcessBatch")["KeepCounts"]
    keep["Parameters"]["failedRows.$"] = "$.object.summary.failedRows"


def _objects_whose_rows_all_fail(
    pipeline: LocalPipeline, downstream: DownstreamServer
) -> dict[str, Any]:
    """One worker takes eight objects in one batch; the downstream closes every connection
    unanswered, so each row fails with "cannot reach <its long URL>: ..."."""
    for n in range(FAILING_OBJECTS):
        by_hand.put_csv(pipeline, f"direct/unreachable-{n}.csv", rows=FAILING_ROWS)
        by_hand.send(pipeline, by_hand.details(pipeline, f"direct/unreachable-{n}.csv"))
    downstream.configure(timeout_rate=1.0, timeout_hold_s=0.0)
    # A pace handed over from an earlier drain: one worker, objects known to be quick.
    pace = {"ceiling": 1, "changed_at": time.time(), "concurrency": 1, "seconds_per_object": 0.05}
    try:
        return by_hand.run_drain(pipeline, payload={"pace": pace})
    finally:
        downstream.configure(timeout_rate=0.0)


def _batch_sizes(pipeline: LocalPipeline) -> list[int]:
    """The objects of each batch PlanBatch planned."""
    results = pipeline.dispatcher.stats.results("PlanBatchFunction")
    return [len(i.result["items"]) for i in results if i.result.get("items")]


def _failed_rows_bytes(pipeline: LocalPipeline) -> int:
    """The failed rows ProcessObject returned, as compact JSON."""
    return sum(
        len(json.dumps(i.result["failed_rows"], separators=(",", ":")).encode())
        for i in pipeline.dispatcher.stats.results("ProcessObjectFunction")
        if not i.errored
    )


def test_with_failed_rows_in_the_workers_state_the_drain_fails_data_limit_exceeded(
    tmp_path: Path,
) -> None:
    template = _copy(tmp_path, {"drain.asl.json": _keep_failed_rows})
    with _drain_stack(template) as (pipeline, downstream):
        execution = _objects_whose_rows_all_fail(pipeline, downstream)
        history = by_hand.history(pipeline, execution["executionArn"])

    assert _batch_sizes(pipeline) == [FAILING_OBJECTS]
    assert _failed_rows_bytes(pipeline) > emulator_fixes.STATE_DATA_LIMIT_BYTES
    assert execution["status"] == "FAILED"
    [failed] = [e for e in history if e["type"] == "ExecutionFailed"]
    details = failed["executionFailedEventDetails"]
    assert details["error"] == "States.DataLimitExceeded"  # no Catch sees it
    assert details["cause"].startswith("The state/task 'ProcessBatch' returned a result")


# -- defect 6: the PriorityQueue read with a fixed short poll only ----------------------------
def _short_poll_the_priority_queue(definition: Definition) -> None:
    """As before the fix (1c3d39c): no PriorityQueue depth read, so PlanRound sees the object
    queue's depth only, and ReceivePriority is a fixed short poll (WaitTimeSeconds 0)."""
    states = definition["States"]
    del states["ReadPriorityQueueDepth"]
    states["ReadObjectQueueDepth"]["Next"] = "PlanRound"
    del states["PlanRound"]["Parameters"]["Payload"]["priorityDepth.$"]
    worker = _iteration_states(definition, "Workers")
    receive = worker["ReceivePriority"]["Parameters"]
    del receive["WaitTimeSeconds.$"]
    receive["WaitTimeSeconds"] = 0
    del worker["StopLongPollingPriority"]
    worker["AnyPriority"]["Default"] = "ReceiveBatch"


def _one_priority_message_short_polls_miss(
    pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    # The strict emulator samples short polls of a queue holding fewer than 10 messages; here
    # every such short poll misses, the worst case SQS allows (as the integration test does).
    monkeypatch.setattr(emulator_fixes, "SHORT_POLL_MISS_PROBABILITY", 1.0)
    by_hand.put_csv(pipeline, "direct/urgent.csv", rows=1)
    by_hand.send(pipeline, by_hand.details(pipeline, "direct/urgent.csv"), queue="PriorityQueueUrl")
    return by_hand.run_drain(pipeline)


def test_with_a_fixed_short_poll_a_priority_message_is_left_when_the_drain_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    template = _copy(tmp_path, {"drain.asl.json": _short_poll_the_priority_queue})
    with _drain_stack(template) as (pipeline, downstream):
        execution = _one_priority_message_short_polls_miss(pipeline, monkeypatch)
        entered = by_hand.states_entered(pipeline, execution["executionArn"])
        left = pipeline.queue_counts("PriorityQueueUrl")

    # The drain calls the queues drained and ends, the priority object untouched.
    assert execution["status"] == "SUCCEEDED"
    assert "ReadPriorityQueueDepth" not in entered
    assert entered.count("ReceivePriority") >= 1 and entered[-1] == "QueueDrained"
    assert "ProcessObject" not in entered
    assert downstream.requests == []
    assert left == (1, 0)


# -- the same scenarios with the real drain ASL ----------------------------------------------
class TestTheRealDrain:
    """Defects 7 and 6's scenarios on template.yaml as it is: one deployment for both."""

    def test_objects_with_many_long_failed_rows_are_dead_lettered_by_the_real_drain(
        self,
        drain: tuple[LocalPipeline, DownstreamServer],
    ) -> None:
        pipeline, downstream = drain
        execution = _objects_whose_rows_all_fail(pipeline, downstream)

        assert execution["status"] == "SUCCEEDED"
        # One batch whose failed rows add up to more than one state may hold.
        assert _batch_sizes(pipeline) == [FAILING_OBJECTS]
        assert _failed_rows_bytes(pipeline) > emulator_fixes.STATE_DATA_LIMIT_BYTES
        letters = pipeline.dead_letters()
        assert len(letters) == FAILING_OBJECTS
        for letter in letters:
            assert letter.attributes["sluice-error"] == "RowsFailed"
            failed = json.loads(letter.reason.split(": ", 1)[1])["failedRows"]
            assert len(failed) == FAILING_ROWS
            assert all(LONG_ROUTE in row["error"] for row in failed)
        assert pipeline.queue_counts("ObjectQueueUrl") == (0, 0)

    def test_a_priority_message_short_polls_miss_is_processed_by_the_real_drain(
        self, drain: tuple[LocalPipeline, DownstreamServer], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        pipeline, downstream = drain
        execution = _one_priority_message_short_polls_miss(pipeline, monkeypatch)

        assert execution["status"] == "SUCCEEDED"
        assert [r.body["key"] for r in downstream.accepted()] == ["direct/urgent.csv"]
        assert pipeline.queue_counts("PriorityQueueUrl") == (0, 0)


# -- defect 8: a fault not the event's failed the whole payments execution -------------------
class FeeConfigurationError(Exception):
    """Same name as ProcessPayment's own error: the workflow matches on the name."""


def _fail_the_execution(definition: Definition) -> None:
    """As before the fix (2362ff5^): a fault that is not the event's ends its iteration in a
    Fail state, which fails the Map and the execution."""
    states = _iteration_states(definition, "EachPayment")
    del states["RedeliverEvent"]
    states["RedeliverBatch"] = {
        "Type": "Fail",
        "Error": "PaymentBatchRedelivered",
        "Cause": "A payment step is misconfigured or unavailable after retries; PaymentPipe "
        "redelivers the batch (MaxReceiveCount times at most).",
    }
    _renamed_next(definition, "RedeliverEvent", "RedeliverBatch")


def test_with_a_fail_state_for_a_fault_not_the_events_the_whole_batch_comes_back(
    tmp_path: Path,
) -> None:
    """The real ASL sends back the faulty event alone, its siblings handled once:
    tests/e2e/test_payment_pipeline.py::
    test_a_misconfigured_step_sends_back_only_its_event_and_the_batch_is_handled_once."""
    template = _copy(tmp_path, {"payments.asl.json": _fail_the_execution})
    base = json.loads((EVENTS / "payment_event.json").read_text())
    bodies = {
        "valid": json.dumps({**base, "transactionId": "pay-reverted-valid"}),
        "invalid": json.dumps({**base, "transactionId": "pay-reverted-invalid", "amount": "1.999"}),
        "fee": json.dumps({**base, "transactionId": "pay-reverted-fee"}),
    }
    # The batch window (time-scaled: 0.2 s) gathers the three events into one execution; the
    # visibility timeout (330 s, time-scaled: 1 s) brings back what the pipe did not delete.
    overrides = {
        "EnablePaymentPipeline": "true",
        "PaymentBatchSize": "3",
        "PaymentBatchWindowSeconds": "100",
    }
    with LocalPipeline(template, overrides, time_scale=0.002) as pipeline:
        runner = pipeline.pipes["PaymentPipe"]
        siblings_done = threading.Event()

        def siblings_handled() -> bool:
            stored = {i["transactionId"]["S"] for i in stored_items(pipeline)}
            dead = pipeline.queue_counts("PaymentDeadLetterQueueUrl")[0]
            return "pay-reverted-valid" in stored and dead >= 1

        def hook(logical_id: str, event: Any) -> None:
            payment = event.get("payment") or {}
            if logical_id != "ProcessPaymentFunction" or siblings_done.is_set():
                return
            if payment.get("transactionId") == "pay-reverted-fee":
                # Fails once, after its siblings were stored and dead-lettered; the step
                # works again by the time the batch comes back.
                deadline = time.monotonic() + 30
                while not siblings_handled() and time.monotonic() < deadline:
                    time.sleep(0.05)
                siblings_done.set()
                raise FeeConfigurationError("PAYMENT_FEE_BASIS_POINTS is not set")

        pipeline.dispatcher.crash_hook = hook
        publish(pipeline, list(bodies.values()))
        deadline = time.monotonic() + 60
        while runner.stats.deleted < len(bodies):  # until an execution succeeded
            assert time.monotonic() < deadline, "the batch was never handled"
            time.sleep(0.05)
        pipeline.dispatcher.crash_hook = None
        assert pipeline.queue_counts("PaymentQueueUrl") == (0, 0)

        sfn = pipeline.client("stepfunctions")
        arns = {e["name"]: e["executionArn"] for e in pipeline.executions("PaymentStateMachine")}
        executions = [
            sfn.describe_execution(executionArn=arns[n]) for n in runner.stats.execution_names
        ]
        # Both dead letters are visible: a long poll returns them at once.
        dead = pipeline.client("sqs").receive_message(
            QueueUrl=pipeline.outputs["PaymentDeadLetterQueueUrl"],
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
        )["Messages"]
        stored = sorted(i["transactionId"]["S"] for i in stored_items(pipeline))
        counts = pipeline.history_counts("PaymentStateMachine")

    assert siblings_done.is_set()
    first, again = executions  # the batch, then the same batch redelivered
    assert (first["status"], first["error"]) == ("FAILED", "PaymentBatchRedelivered")
    assert again["status"] == "SUCCEEDED"
    assert runner.stats.failed_executions == 1 and runner.stats.redelivered == 3

    def message_ids(execution: dict[str, Any]) -> set[str]:
        return {record["messageId"] for record in json.loads(execution["input"])}

    assert len(message_ids(first)) == 3 and message_ids(again) == message_ids(first)
    # The invalid sibling is dead-lettered twice; the stored one is met again as a duplicate.
    assert [d["Body"] for d in dead] == [bodies["invalid"], bodies["invalid"]]
    assert counts["state:PaymentDeadLettered"] == 2 and counts["state:DuplicatePayment"] == 1
    assert stored == ["pay-reverted-fee", "pay-reverted-valid"]


# -- defect 10: SSE-KMS objects of an existing bucket ----------------------------------------
EXISTING_BUCKET = "existing-sse-kms-bucket"


@contextmanager
def _existing_sse_kms_bucket() -> Iterator[str]:
    """A bucket that exists before the stack: EventBridge notifications on, default encryption
    SSE-KMS with a customer managed key (outside the template: its default key policy lets IAM
    decide). The emulator's state outlives the pipeline's start (a nested mock keeps it)."""
    with mock_aws():
        kms = boto3.client("kms", region_name="us-east-1")
        key = str(kms.create_key(Description="the existing bucket's key")["KeyMetadata"]["Arn"])
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=EXISTING_BUCKET)
        s3.put_bucket_encryption(
            Bucket=EXISTING_BUCKET,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": key,
                        }
                    }
                ]
            },
        )
        s3.put_bucket_notification_configuration(
            Bucket=EXISTING_BUCKET,
            NotificationConfiguration={"EventBridgeConfiguration": {}},
        )
        yield key


@pytest.mark.parametrize("key_given", [True, False], ids=["key-given", "key-not-given"])
def test_sse_kms_objects_of_an_existing_bucket_need_its_key(key_given: bool) -> None:
    objects = sample_objects(count=2, rows=2, failing=0)
    with _existing_sse_kms_bucket() as key:
        overrides = {
            "ExistingBucketName": EXISTING_BUCKET,
            "MaxConcurrency": "2",
            "StaggerSeconds": "0",
            **({"ExistingBucketKmsKeyArn": key} if key_given else {}),
        }
        with deployed(ROOT / "template.yaml", overrides) as (pipeline, downstream):
            report = run_job(pipeline, downstream, objects, timeout=60)
            summary = pipeline.iam.summary()
            head = pipeline.client("s3").head_object(Bucket=EXISTING_BUCKET, Key=objects[0].key)

    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", key)
    assert report.unaccounted == []
    if key_given:
        assert report.processed == 2 and report.dead_lettered == {}
        assert summary["denied"] == []
        return
    # Without the key's ARN, ProcessObject may not decrypt: S3 refuses each GetObject.
    assert report.processed == 0 and len(report.dead_lettered) == 2
    for reason in report.dead_lettered.values():
        assert reason.startswith("AccessDenied:") and "kms:Decrypt" in reason, reason
    assert {(d["principal"], d["action"]) for d in summary["denied"]} == {
        ("ProcessObjectFunctionRole", "kms:Decrypt")
    }
    [denied] = summary["denied"]
    assert denied["resource"] == key
