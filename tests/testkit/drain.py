"""Driving the real drain state machine of a locally deployed stack by hand: objects put and
their messages sent straight to a queue (the seeds' s3_details contract), executions started
and read back, queues read and emptied without PurgeQueue."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from sluice_local.emulator.inspection import DeadLetter
from sluice_local.emulator.runtime import LocalPipeline
from sluice_local.jobs.demo import wait_for
from sluice_local.servers.downstream import DownstreamServer

# A deployed stack and the downstream its ProcessObject sends to.
Stack = tuple[LocalPipeline, DownstreamServer]


def put_csv(pipeline: LocalPipeline, key: str, rows: int) -> None:
    """A CSV object of ``rows`` rows (id,name) in the stack's bucket."""
    body = "id,name\n" + "".join(f"{i},name {i}\n" for i in range(1, rows + 1))
    pipeline.client("s3").put_object(
        Bucket=pipeline.outputs["BucketName"], Key=key, Body=body.encode()
    )


def details(pipeline: LocalPipeline, key: str) -> dict[str, Any]:
    """The event a seed sends for an object of the stack's bucket."""
    return {"s3_details": {"bucket": pipeline.outputs["BucketName"], "key": key}}


def send(
    pipeline: LocalPipeline, body: Any, priority: int | None = None, queue: str = "ObjectQueueUrl"
) -> str:
    """Send ``body`` (a str as it is, anything else as JSON) to the queue, with a priority
    attribute when given: the message's id."""
    attributes = (
        {"priority": {"DataType": "Number", "StringValue": str(priority)}}
        if priority is not None
        else {}
    )
    message_id: str = pipeline.client("sqs").send_message(
        QueueUrl=pipeline.outputs[queue],
        MessageBody=body if isinstance(body, str) else json.dumps(body),
        MessageAttributes=attributes,
    )["MessageId"]
    return message_id


def run_drain(
    pipeline: LocalPipeline, timeout: float = 60, payload: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Start one drain execution with ``payload`` as its input and wait for it to end: the
    execution as DescribeExecution tells it."""
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
    execution_description: dict[str, Any] = execution
    return execution_description


def history(pipeline: LocalPipeline, execution_arn: str) -> list[dict[str, Any]]:
    """Every event of the execution's history, in order."""
    paginator = pipeline.client("stepfunctions").get_paginator("get_execution_history")
    return [e for page in paginator.paginate(executionArn=execution_arn) for e in page["events"]]


def states_entered(pipeline: LocalPipeline, execution_arn: str) -> list[str]:
    """The name of each state the execution entered (nested states included), in order."""
    return [
        e["stateEnteredEventDetails"]["name"]
        for e in history(pipeline, execution_arn)
        if e["type"].endswith("StateEntered")
    ]


def entered(pipeline: LocalPipeline, execution_arn: str, state: str) -> int:
    """How many times the execution entered the named state."""
    return states_entered(pipeline, execution_arn).count(state)


def exits(events: list[dict[str, Any]], state: str) -> list[str]:
    """The JSON output of every exit of the named state (nested states included) in an
    execution's ``history``."""
    return [
        e["stateExitedEventDetails"]["output"]
        for e in events
        if e["type"].endswith("StateExited") and e["stateExitedEventDetails"]["name"] == state
    ]


def dead_letters(pipeline: LocalPipeline) -> list[DeadLetter]:
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


def receive_times(pipeline: LocalPipeline, queue: str, times: int) -> None:
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


def empty(pipeline: LocalPipeline, output_key: str) -> None:
    """Delete every message of the queue, in flight ones included."""
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
        empty(pipeline, output_key)


def stop_drains_when(
    pipeline: LocalPipeline, condition: Callable[[], bool], *, timeout: float, what: str
) -> None:
    """Wait for ``condition`` (``what``, within ``timeout`` seconds), then stop the drain's
    schedule and let the running drains end."""
    wait_for(condition, timeout=timeout, what=what)
    pipeline.stop_schedules()
    pipeline.wait_for_executions("DrainStateMachine", timeout=60)
