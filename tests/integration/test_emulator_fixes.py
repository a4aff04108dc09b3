"""The emulator behaves like SQS where the pipeline relies on it (see emulator/sqs_fixes.py)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from moto import mock_aws

from sluice_local.emulator import fixes as emulator_fixes


def _receive(sqs: Any, url: str, **kwargs: Any) -> list[dict[str, Any]]:
    """A long poll: a short one may miss the last few messages, in SQS and here (strict)."""
    kwargs = {"MaxNumberOfMessages": 10, "WaitTimeSeconds": 1, **kwargs}
    return list(sqs.receive_message(QueueUrl=url, **kwargs).get("Messages", []))


def test_parallel_deletes_and_sends_are_all_kept() -> None:
    emulator_fixes.install()
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="q", Attributes={"VisibilityTimeout": "600"})["QueueUrl"]
        for n in range(300):
            sqs.send_message(QueueUrl=url, MessageBody=str(n))
        handles = []
        for _ in range(300):
            if len(handles) == 300:
                break
            handles += [m["ReceiptHandle"] for m in _receive(sqs, url)]
        assert len(handles) == 300

        def delete_then_send(handle: str) -> None:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
            sqs.send_message(QueueUrl=url, MessageBody="new")

        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(delete_then_send, handles))

        attributes = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        # Every delete stuck (no old message back) and every send landed (none lost).
        assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
        assert attributes["ApproximateNumberOfMessages"] == "300"


def test_visibility_and_delay_counts_follow_sqs_rules() -> None:
    emulator_fixes.install()
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="v")["QueueUrl"]
        for n in range(3):
            sqs.send_message(QueueUrl=url, MessageBody=str(n))
        sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
        [received] = _receive(sqs, url, MaxNumberOfMessages=1, VisibilityTimeout=60)

        def counts() -> tuple[str, str, str]:
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
            a = attributes["Attributes"]
            return (
                a["ApproximateNumberOfMessages"],
                a["ApproximateNumberOfMessagesNotVisible"],
                a["ApproximateNumberOfMessagesDelayed"],
            )

        assert counts() == ("2", "1", "1")
        sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=received["ReceiptHandle"], VisibilityTimeout=0
        )
        assert counts() == ("3", "0", "1")
        bodies = set()
        for _ in range(10):
            if len(bodies) >= 3:
                break
            bodies |= {m["Body"] for m in _receive(sqs, url)}
        assert bodies == {"0", "1", "2"}  # the delayed message stays hidden


def test_executions_started_without_a_name_get_distinct_names() -> None:
    # AWS names them with a UUID; moto named each "None", so a drain's second hand-over
    # (StartExecution from its HandOver state, with no name) failed ExecutionAlreadyExists.
    emulator_fixes.install()
    # The local runtime executes state machines (moto's parser backend), as here.
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        arn = sfn.create_state_machine(
            name="sm",
            type="EXPRESS",
            definition='{"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}',
            roleArn="arn:aws:iam::123456789012:role/sm",
        )["stateMachineArn"]
        started = [sfn.start_execution(stateMachineArn=arn)["executionArn"] for _ in range(2)]
        assert len(set(started)) == 2
        assert not any(a.endswith(":None") for a in started)
