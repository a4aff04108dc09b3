"""The redrive tool: listing with reasons, filtered and rate-limited copy redrive on the emulator,
and StartMessageMoveTask with botocore's Stubber (moto does not implement it)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from sluice_ops import cli
from sluice_ops.redrive import copy_redrive, list_dead_letters, start_move_task

DLQ_ARN = "arn:aws:sqs:us-east-1:123456789012:dlq"
SOURCE_ARN = "arn:aws:sqs:us-east-1:123456789012:source"


@pytest.fixture
def queues() -> Iterator[tuple[Any, str, str]]:
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        source = sqs.create_queue(QueueName="source")["QueueUrl"]
        dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
        yield sqs, dlq, source


def _dead_letter(sqs: Any, dlq: str, key: str, error: str | None, priority: int = 0) -> None:
    attributes: dict[str, Any] = {"priority": {"DataType": "Number", "StringValue": str(priority)}}
    if error:
        attributes["sluice-error"] = {"DataType": "String", "StringValue": error}
        attributes["sluice-reason"] = {"DataType": "String", "StringValue": f"{error}: {key}"}
    body = json.dumps({"s3_details": {"bucket": "b", "key": key}})
    sqs.send_message(QueueUrl=dlq, MessageBody=body, MessageAttributes=attributes)


def _bodies(sqs: Any, url: str) -> list[dict[str, Any]]:
    out = []
    # Long polls while messages wait: a short poll may answer empty with a few queued (in SQS,
    # and in the local runtime's strict emulator, which another test may have installed).
    while _counts(sqs, url)[0] and (
        batch := sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        ).get("Messages")
    ):
        for message in batch:
            out.append({"body": json.loads(message["Body"]), "attrs": message["MessageAttributes"]})
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return out


def _counts(sqs: Any, url: str) -> tuple[int, int]:
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"])


def test_list_shows_each_reason_and_leaves_the_queue_as_it_was(queues: Any) -> None:
    sqs, dlq, _ = queues
    _dead_letter(sqs, dlq, "gone.csv", "ObjectNotFound")
    _dead_letter(sqs, dlq, "poison.csv", None)  # moved by SQS after MaxReceiveCount
    letters = {d.error: d for d in list_dead_letters(sqs, dlq)}
    assert set(letters) == {"ObjectNotFound", "MaxReceiveCountExceeded"}
    assert letters["ObjectNotFound"].reason == "ObjectNotFound: gone.csv"
    assert "MaxReceiveCount" in letters["MaxReceiveCountExceeded"].reason
    assert _counts(sqs, dlq) == (2, 0)  # visible again


def test_list_shows_a_function_errors_message_not_lambdas_error_payload(queues: Any) -> None:
    sqs, dlq, _ = queues
    # The drain's Catch puts the Task's Cause, Lambda's error payload, after the error name.
    payload = {
        "errorMessage": "s3://b/empty.csv is empty (0 bytes): nothing to process",
        "errorType": "EmptyObject",
        "stackTrace": ['  File "object_processor.py", line 378, in run\n'],
    }
    reason = f"EmptyObject: {json.dumps(payload)}"
    sqs.send_message(
        QueueUrl=dlq,
        MessageBody=json.dumps({"s3_details": {"bucket": "b", "key": "empty.csv"}}),
        MessageAttributes={
            "sluice-error": {"DataType": "String", "StringValue": "EmptyObject"},
            "sluice-reason": {"DataType": "String", "StringValue": reason},
        },
    )
    [letter] = list_dead_letters(sqs, dlq)
    assert letter.reason == "EmptyObject: s3://b/empty.csv is empty (0 bytes): nothing to process"


def test_filtered_redrive_moves_only_matches_with_original_body_and_attributes(
    queues: Any,
) -> None:
    sqs, dlq, source = queues
    for n in range(3):
        _dead_letter(sqs, dlq, f"gone-{n}.csv", "ObjectNotFound", priority=n)
    _dead_letter(sqs, dlq, "bad.csv", "NotCsv")
    report = copy_redrive(
        sqs, dlq, source, match=lambda d: d.error == "ObjectNotFound", sleep=lambda _: None
    )
    assert (report.examined, report.redriven, report.skipped) == (4, 3, 1)
    assert report.by_error == {"ObjectNotFound": 3}
    moved = _bodies(sqs, source)
    assert sorted(m["body"]["s3_details"]["key"] for m in moved) == [
        "gone-0.csv",
        "gone-1.csv",
        "gone-2.csv",
    ]
    # The reason stays behind; what the producer set (priority) goes back with the message.
    assert all(set(m["attrs"]) == {"priority"} for m in moved)
    assert [d.error for d in list_dead_letters(sqs, dlq)] == ["NotCsv"]


def test_dry_run_changes_nothing(queues: Any) -> None:
    sqs, dlq, source = queues
    for n in range(12):
        _dead_letter(sqs, dlq, f"k{n}.csv", "RowsFailed")
    report = copy_redrive(sqs, dlq, source, dry_run=True, sleep=lambda _: None)
    assert (report.examined, report.redriven, report.dry_run) == (12, 12, True)
    assert report.lines()[0] == "examined 12, would redrive 12, left (not matching) 0"
    assert _counts(sqs, dlq) == (12, 0)
    assert _counts(sqs, source) == (0, 0)


def test_redrive_is_paced_at_the_rate_given(queues: Any) -> None:
    sqs, dlq, source = queues
    for n in range(5):
        _dead_letter(sqs, dlq, f"k{n}.csv", "TransientError")
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(round(seconds, 6))
        now[0] += seconds

    report = copy_redrive(sqs, dlq, source, per_second=2, sleep=sleep, clock=lambda: now[0])
    assert report.redriven == 5
    assert waits == [0.5, 0.5, 0.5, 0.5]  # 5 sends, 2 per second: 2 s in all
    assert _counts(sqs, source) == (5, 0)
    assert _counts(sqs, dlq) == (0, 0)


def test_move_task_is_started_on_the_dead_letter_queue_towards_the_source() -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    with Stubber(sqs) as stub:
        stub.add_response(
            "start_message_move_task",
            {"TaskHandle": "handle-1"},
            {
                "SourceArn": DLQ_ARN,
                "DestinationArn": SOURCE_ARN,
                "MaxNumberOfMessagesPerSecond": 20,
            },
        )
        assert start_move_task(sqs, DLQ_ARN, SOURCE_ARN, 20) == "handle-1"
        stub.assert_no_pending_responses()


def _args(command: str, **extra: Any) -> argparse.Namespace:
    base = {
        "stack": "sluice",
        "dlq_url": None,
        "source_url": None,
        "command": command,
        "error": None,
        "contains": None,
        "rate": 10,
        "limit": None,
        "dry_run": False,
        "copy": False,
    }
    return argparse.Namespace(**{**base, **extra})


def _stack_outputs() -> dict[str, Any]:
    outputs = {
        "ObjectDeadLetterQueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/dlq",
        "ObjectDeadLetterQueueArn": DLQ_ARN,
        "ObjectQueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/source",
        "ObjectQueueArn": SOURCE_ARN,
    }
    return {
        "Stacks": [
            {
                "StackName": "sluice",
                "CreationTime": "2024-01-15T10:00:00Z",
                "StackStatus": "CREATE_COMPLETE",
                "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()],
            }
        ]
    }


def test_cli_redrives_everything_with_a_move_task_on_aws() -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    with Stubber(sqs) as sqs_stub, Stubber(cloudformation) as cfn_stub:
        cfn_stub.add_response("describe_stacks", _stack_outputs(), {"StackName": "sluice"})
        sqs_stub.add_response(
            "start_message_move_task",
            {"TaskHandle": "handle-2"},
            {
                "SourceArn": DLQ_ARN,
                "DestinationArn": SOURCE_ARN,
                "MaxNumberOfMessagesPerSecond": 10,
            },
        )
        lines = cli.run(_args("redrive"), sqs, cloudformation)
    assert lines == ["move task started: handle-2 (follow it with: sluice-redrive status)"]


def test_cli_falls_back_to_copying_where_move_tasks_do_not_exist(queues: Any) -> None:
    sqs, dlq, source = queues
    _dead_letter(sqs, dlq, "gone.csv", "ObjectNotFound")
    args = _args("redrive", stack=None, dlq_url=dlq, source_url=source)
    lines = cli.run(args, sqs, None)
    assert lines[0].startswith("this endpoint has no StartMessageMoveTask")
    assert lines[1] == "examined 1, redriven 1, left (not matching) 0"
    assert _counts(sqs, source) == (1, 0)
    listing = cli.run(
        _args("list", stack=None, dlq_url=dlq, source_url=source, limit=10), sqs, None
    )
    assert listing == [f"0 dead letter(s) in {dlq}"]


def test_cli_takes_the_payment_queues_from_the_stack_with_pipeline_payments() -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    stack = _stack_outputs()
    payment_dlq = "https://sqs.us-east-1.amazonaws.com/123456789012/sluice-payment-dead-letters"
    payment_queue = "https://sqs.us-east-1.amazonaws.com/123456789012/sluice-payment-events"
    stack["Stacks"][0]["Outputs"] += [
        {"OutputKey": "PaymentDeadLetterQueueUrl", "OutputValue": payment_dlq},
        {"OutputKey": "PaymentQueueUrl", "OutputValue": payment_queue},
    ]
    payment_dlq_arn = "arn:aws:sqs:us-east-1:123456789012:sluice-payment-dead-letters"
    payment_queue_arn = "arn:aws:sqs:us-east-1:123456789012:sluice-payment-events"
    with Stubber(sqs) as sqs_stub, Stubber(cloudformation) as cfn_stub:
        cfn_stub.add_response("describe_stacks", stack, {"StackName": "sluice"})
        for url, arn in ((payment_dlq, payment_dlq_arn), (payment_queue, payment_queue_arn)):
            sqs_stub.add_response(
                "get_queue_attributes",
                {"Attributes": {"QueueArn": arn}},
                {"QueueUrl": url, "AttributeNames": ["QueueArn"]},
            )
        sqs_stub.add_response(
            "start_message_move_task",
            {"TaskHandle": "handle-3"},
            {
                "SourceArn": payment_dlq_arn,
                "DestinationArn": payment_queue_arn,
                "MaxNumberOfMessagesPerSecond": 10,
            },
        )
        lines = cli.run(_args("redrive", pipeline="payments"), sqs, cloudformation)
    assert lines == ["move task started: handle-3 (follow it with: sluice-redrive status)"]


def test_cli_says_when_the_stack_has_no_payment_pipeline() -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    with Stubber(cloudformation) as cfn_stub:
        cfn_stub.add_response("describe_stacks", _stack_outputs(), {"StackName": "sluice"})
        with pytest.raises(SystemExit, match="no payment pipeline"):
            cli.run(_args("list", pipeline="payments", limit=10), sqs, cloudformation)
