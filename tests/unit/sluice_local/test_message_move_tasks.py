"""SQS's dead-letter queue redrive (StartMessageMoveTask and friends) in the emulator, which moto
lacks: `sluice redrive` starts one against `sluice-local up` as against AWS."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from sluice_local.emulator import fixes as emulator_fixes


@pytest.fixture
def queues() -> Iterator[tuple[Any, dict[str, str]]]:
    emulator_fixes.install()
    emulator_fixes.set_move_tasks(True)  # as a running LocalPipeline sets it
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        urls = {name: sqs.create_queue(QueueName=name)["QueueUrl"] for name in ("dlq", "other")}

        def arn(url: str) -> str:
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            return str(attributes["Attributes"]["QueueArn"])

        policy = json.dumps({"deadLetterTargetArn": arn(urls["dlq"]), "maxReceiveCount": 3})
        urls["source"] = sqs.create_queue(QueueName="source", Attributes={"RedrivePolicy": policy})[
            "QueueUrl"
        ]
        arns = {f"{name}_arn": arn(url) for name, url in urls.items()}
        try:
            yield sqs, {**urls, **arns}
        finally:
            emulator_fixes.set_move_tasks(False)


def test_without_a_running_pipeline_moto_answers_as_it_always_did(
    queues: tuple[Any, dict[str, str]],
) -> None:
    sqs, q = queues
    emulator_fixes.set_move_tasks(False)
    with pytest.raises(NotImplementedError):
        sqs.list_message_move_tasks(SourceArn=q["dlq_arn"])


def depth(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def latest(sqs: Any, dlq_arn: str) -> dict[str, Any]:
    results = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
    assert len(results) == 1  # MaxResults defaults to 1: the newest
    return dict(results[0])


def test_a_move_task_moves_every_dead_letter_with_its_attributes(
    queues: tuple[Any, dict[str, str]],
) -> None:
    sqs, q = queues
    for n in range(3):
        sqs.send_message(
            QueueUrl=q["dlq"],
            MessageBody=f"letter {n}",
            MessageAttributes={"sluice-error": {"DataType": "String", "StringValue": "NotCsv"}},
        )
    handle = sqs.start_message_move_task(SourceArn=q["dlq_arn"], DestinationArn=q["source_arn"])[
        "TaskHandle"
    ]
    wait_for(lambda: latest(sqs, q["dlq_arn"])["Status"] == "COMPLETED")
    task = latest(sqs, q["dlq_arn"])
    assert handle
    assert "TaskHandle" not in task  # only a running task's
    assert (
        task["ApproximateNumberOfMessagesMoved"] == task["ApproximateNumberOfMessagesToMove"] == 3
    )
    assert task["DestinationArn"] == q["source_arn"]
    assert depth(sqs, q["dlq"]) == 0
    moved = sqs.receive_message(
        QueueUrl=q["source"],
        MaxNumberOfMessages=10,
        WaitTimeSeconds=1,
        MessageAttributeNames=["All"],
    )["Messages"]
    assert sorted(m["Body"] for m in moved) == ["letter 0", "letter 1", "letter 2"]
    assert {m["MessageAttributes"]["sluice-error"]["StringValue"] for m in moved} == {"NotCsv"}


def test_without_a_destination_they_go_back_to_the_queue_that_dead_letters_there(
    queues: tuple[Any, dict[str, str]],
) -> None:
    sqs, q = queues
    sqs.send_message(QueueUrl=q["dlq"], MessageBody="back home")
    sqs.start_message_move_task(SourceArn=q["dlq_arn"])
    wait_for(lambda: depth(sqs, q["source"]) == 1)
    assert "DestinationArn" not in latest(sqs, q["dlq_arn"])


def test_one_running_task_per_source_and_a_cancelled_one_stops(
    queues: tuple[Any, dict[str, str]],
) -> None:
    sqs, q = queues
    for n in range(5):
        sqs.send_message(QueueUrl=q["dlq"], MessageBody=f"slow {n}")
    handle = sqs.start_message_move_task(
        SourceArn=q["dlq_arn"], DestinationArn=q["source_arn"], MaxNumberOfMessagesPerSecond=1
    )["TaskHandle"]
    assert latest(sqs, q["dlq_arn"])["TaskHandle"] == handle
    with pytest.raises(ClientError, match="already a task running"):
        sqs.start_message_move_task(SourceArn=q["dlq_arn"], DestinationArn=q["source_arn"])
    moved = sqs.cancel_message_move_task(TaskHandle=handle)["ApproximateNumberOfMessagesMoved"]
    wait_for(lambda: latest(sqs, q["dlq_arn"])["Status"] == "CANCELLED")
    assert moved < 5
    assert depth(sqs, q["dlq"]) + depth(sqs, q["source"]) == 5  # none lost


@pytest.mark.parametrize(
    ("source", "extra", "message"),
    [
        ("other_arn", {}, "Source queue must be configured as a Dead Letter Queue"),
        ("dlq_arn", {"MaxNumberOfMessagesPerSecond": 501}, "must be between 1 and 500"),
    ],
)
def test_what_sqs_refuses_is_refused(
    queues: tuple[Any, dict[str, str]], source: str, extra: dict[str, Any], message: str
) -> None:
    sqs, q = queues
    with pytest.raises(ClientError, match=message) as refused:
        sqs.start_message_move_task(SourceArn=q[source], **extra)
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValue"
