"""The local EventBridge Pipes runner (sluice_local.sources.pipes) against moto's SQS, with a
scripted Step Functions target: what it deletes and what comes back follows the partial batch
failure contract of AWS's "Amazon EventBridge Pipes batching and concurrency" page, so the payment
e2e tests mean what they say.

- execution SUCCEEDED, output ``{"batchItemFailures": [{"itemIdentifier": <SQS messageId>}]}``:
  only the named messages come back, the others are deleted;
- SUCCEEDED without the key, with ``null`` or ``[]``: the whole batch is deleted;
- FAILED (or TIMED_OUT, ABORTED): the whole batch comes back;
- a ``batchItemFailures`` the pipe cannot match to the batch (unknown id, no id): the whole batch
  comes back (Lambda's SQS event source documents this for the same response; the Pipes page
  is silent, and this reading loses nothing).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sluice_local.sources.pipes import PipeConfig, PipeRunner

Respond = Callable[[list[dict[str, Any]]], tuple[str, Any]]  # records -> (status, output)


class ScriptedWorkflow:
    """Stands in for boto3's Step Functions client: each execution ends as ``respond`` says."""

    def __init__(self, respond: Respond) -> None:
        self.respond = respond
        self.batches: list[list[str]] = []  # the records' bodies, per execution
        self._inputs: dict[str, list[dict[str, Any]]] = {}

    def start_execution(
        self, stateMachineArn: str, name: str, input: str
    ) -> dict[str, Any]:  # boto3 names
        records = json.loads(input)
        self._inputs[name] = records
        self.batches.append([r["body"] for r in records])
        return {"executionArn": name}

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        status, output = self.respond(self._inputs[executionArn])
        described: dict[str, Any] = {"status": status}
        if status == "SUCCEEDED":
            described["output"] = json.dumps(output)
        return described


@pytest.fixture
def queue() -> Iterator[tuple[Any, str]]:
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        yield sqs, sqs.create_queue(QueueName="payments")["QueueUrl"]


def _runner(sqs: Any, url: str, workflow: ScriptedWorkflow) -> PipeRunner:
    config = PipeConfig(
        logical_id="PaymentPipe",
        source_queue_url=url,
        source_queue_arn="arn:aws:sqs:us-east-1:123456789012:payments",
        target_arn="arn:aws:states:us-east-1:123456789012:stateMachine:payments",
        batch_size=10,
        batching_window_s=0,
        visibility_timeout_s=0,  # what comes back is visible again at once
        region="us-east-1",
    )
    return PipeRunner(config, sqs, workflow, threading.Event())


def _send(sqs: Any, url: str, bodies: list[str]) -> dict[str, str]:
    """body -> SQS messageId"""
    return {b: sqs.send_message(QueueUrl=url, MessageBody=b)["MessageId"] for b in bodies}


def _left(sqs: Any, url: str) -> list[str]:
    visible = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    if visible["Attributes"]["ApproximateNumberOfMessages"] == "0":
        return []
    # A long poll: a short one may answer empty while a few messages wait (in SQS, and in the
    # local runtime's strict emulator, which another test in this process may have installed).
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    return sorted(m["Body"] for m in got.get("Messages", []))


def _fail(*bad: str) -> Respond:
    def respond(records: list[dict[str, Any]]) -> tuple[str, Any]:
        failures = [{"itemIdentifier": r["messageId"]} for r in records if r["body"] in bad]
        return "SUCCEEDED", {"batchItemFailures": failures}

    return respond


def test_only_the_messages_named_by_their_sqs_message_id_come_back(queue: Any) -> None:
    sqs, url = queue
    workflow = ScriptedWorkflow(_fail("b", "d"))
    runner = _runner(sqs, url, workflow)
    _send(sqs, url, ["a", "b", "c", "d"])
    assert runner.poll_once()
    assert workflow.batches == [["a", "b", "c", "d"]]
    assert runner.stats.partially_failed_executions == 1 and runner.stats.deleted == 2
    assert runner.stats.redelivered == 2 and runner.stats.failed_executions == 0
    assert runner.poll_once()  # b and d, alone, under their own messageIds
    assert workflow.batches[1] == ["b", "d"]
    assert runner.stats.partially_failed_executions == 2
    workflow.respond = _fail()
    assert runner.poll_once() and workflow.batches[2] == ["b", "d"]
    assert _left(sqs, url) == [] and runner.stats.deleted == 4


@pytest.mark.parametrize(
    "output",
    [{"batchItemFailures": []}, {"batchItemFailures": None}, {}, {"other": 1}, None, [1, 2]],
    ids=["empty-list", "null-list", "empty-object", "no-key", "null", "not-an-object"],
)
def test_a_succeeded_execution_without_failures_deletes_the_whole_batch(
    queue: Any, output: Any
) -> None:
    sqs, url = queue
    runner = _runner(sqs, url, ScriptedWorkflow(lambda _records: ("SUCCEEDED", output)))
    _send(sqs, url, ["a", "b", "c"])
    assert runner.poll_once()
    assert runner.stats.deleted == 3 and runner.stats.redelivered == 0
    assert _left(sqs, url) == []


@pytest.mark.parametrize("status", ["FAILED", "TIMED_OUT", "ABORTED"])
def test_an_execution_that_does_not_succeed_sends_the_whole_batch_back(
    queue: Any, status: str
) -> None:
    sqs, url = queue
    runner = _runner(sqs, url, ScriptedWorkflow(lambda _records: (status, None)))
    _send(sqs, url, ["a", "b", "c"])
    assert runner.poll_once()
    assert runner.stats.failed_executions == 1 and runner.stats.deleted == 0
    assert runner.stats.redelivered == 3
    assert _left(sqs, url) == ["a", "b", "c"]


@pytest.mark.parametrize(
    "failures",
    [
        [{"itemIdentifier": "not-a-message-of-this-batch"}],
        [{"itemIdentifier": ""}],
        [{"itemIdentifier": None}],
        [{"messageId": "BODY-A"}],  # a wrong key name
        ["BODY-A"],  # bare ids, not objects
        "BODY-A",  # not a list
    ],
    ids=["unknown-id", "empty-id", "null-id", "wrong-key", "bare-id", "not-a-list"],
)
def test_a_batch_item_failure_the_pipe_cannot_match_sends_the_whole_batch_back(
    queue: Any, failures: Any
) -> None:
    sqs, url = queue

    def respond(records: list[dict[str, Any]]) -> tuple[str, Any]:
        ids = {r["body"]: r["messageId"] for r in records}
        named = json.loads(json.dumps(failures).replace("BODY-A", ids["a"]))
        return "SUCCEEDED", {"batchItemFailures": named}

    runner = _runner(sqs, url, ScriptedWorkflow(respond))
    _send(sqs, url, ["a", "b", "c"])
    assert runner.poll_once()
    assert runner.stats.invalid_outputs == 1 and runner.stats.deleted == 0
    assert _left(sqs, url) == ["a", "b", "c"]


def test_the_receipt_handle_is_not_an_item_identifier(queue: Any) -> None:
    """The identifier is the SQS messageId; a receipt handle (what deletes a message) is not."""
    sqs, url = queue

    def respond(records: list[dict[str, Any]]) -> tuple[str, Any]:
        return "SUCCEEDED", {"batchItemFailures": [{"itemIdentifier": records[0]["receiptHandle"]}]}

    runner = _runner(sqs, url, ScriptedWorkflow(respond))
    _send(sqs, url, ["a", "b"])
    assert runner.poll_once()
    assert runner.stats.invalid_outputs == 1 and _left(sqs, url) == ["a", "b"]
