"""What `sluice monitor` reads from the stack's resources directly: queue depths, dead letters
(peeked and released), the drain lease, the alarms and ProcessObject's reserved concurrency. Each
read fills its part of a reading (see :mod:`sluice_ops.monitor`)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from sluice_ops.context import StackContext
from sluice_ops.redrive import DeadLetter

# How long a peeked dead letter stays invisible if the release never comes (a killed process):
# short, so a redrive or a listing soon sees it again.
PEEK_HOLD_S = 30
# ListMetrics answers "never published" for at most this long before it is asked again.
MISSING_METRIC_TTL_S = 60
QUEUES = {"ObjectQueue": "ObjectQueueUrl", "PriorityQueue": "PriorityQueueUrl"}
LEASE_KEY = "drain"  # functions/drain_lease/lease.py LEASE_KEY


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def why(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        error = response["Error"]
        return f"{error.get('Code')}: {error.get('Message')}"
    return f"{type(exc).__name__}: {exc}"


def queue_name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def read_queues(ctx: StackContext, snap: dict[str, Any], gaps: dict[str, str]) -> None:
    sqs = ctx.client("sqs")
    for name, output in QUEUES.items():
        attributes = sqs.get_queue_attributes(
            QueueUrl=ctx.output(output),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        snap["queues"][name]["visible"] = int(attributes["ApproximateNumberOfMessages"])
        snap["queues"][name]["in_flight"] = int(attributes["ApproximateNumberOfMessagesNotVisible"])


def dead_letters(ctx: StackContext, snap: dict[str, Any], sample: int) -> None:
    sqs, url = ctx.client("sqs"), ctx.output("ObjectDeadLetterQueueUrl")
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    total = int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )
    snap["dead_letters"]["total"] = total
    visible = int(attributes["ApproximateNumberOfMessages"])
    if sample > 0 and visible:
        letters = peek(sqs, url, min(sample, visible))
        snap["dead_letters"]["by_error"] = dict(Counter(d.error for d in letters).most_common())
        snap["dead_letters"]["sampled"] = len(letters)


def peek(sqs: Any, url: str, limit: int) -> list[DeadLetter]:
    """Up to ``limit`` dead letters, each once, then visible again (whatever happens between)."""
    letters: list[DeadLetter] = []
    held: list[str] = []  # receipt handles, kept before anything else can fail
    try:
        while len(held) < limit:
            batch = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=min(10, limit - len(held)),
                WaitTimeSeconds=1,  # a short poll may miss messages the queue holds
                VisibilityTimeout=PEEK_HOLD_S,
                MessageAttributeNames=["All"],
                AttributeNames=["ApproximateReceiveCount"],
            ).get("Messages")
            if not batch:
                break
            held += [m["ReceiptHandle"] for m in batch]
            letters += [DeadLetter.from_message(m) for m in batch]
    finally:
        for start in range(0, len(held), 10):
            sqs.change_message_visibility_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                    for n, handle in enumerate(held[start : start + 10])
                ],
            )
    return letters


def lease(ctx: StackContext, snap: dict[str, Any], now: float) -> None:
    item = (
        ctx.client("dynamodb")
        .get_item(
            TableName=ctx.output("LeaseTableName"),
            Key={"lease": {"S": LEASE_KEY}},
            ConsistentRead=True,
        )
        .get("Item")
    )
    if not item:
        snap["lease"].update(held=False, holder=None, until=None)
        return
    expires = float(item.get("expiresAt", {}).get("N", "0"))
    snap["lease"].update(
        held=expires > now, holder=item.get("holder", {}).get("S"), until=iso(expires)
    )


def alarms(ctx: StackContext, snap: dict[str, Any], gaps: dict[str, str]) -> None:
    cloudwatch = ctx.client("cloudwatch")
    topic = ctx.outputs.get("AlarmTopicArn")
    prefix = f"{ctx.stack_name}-"

    def ours(alarm: dict[str, Any]) -> bool:
        return alarm["AlarmName"].startswith(prefix) or (
            bool(topic) and topic in alarm.get("AlarmActions", [])
        )

    firing, defined = [], 0
    paginator = cloudwatch.get_paginator("describe_alarms")
    for page in paginator.paginate(AlarmTypes=["MetricAlarm", "CompositeAlarm"]):
        for alarm in [*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])]:
            if ours(alarm):
                defined += 1
                if alarm.get("StateValue") == "ALARM":
                    firing.append(alarm["AlarmName"])
    snap["alarms_in_alarm"] = sorted(firing)
    if not defined:
        gaps["alarms_in_alarm"] = (
            f"no CloudWatch alarm named {prefix}* or notifying AlarmTopic here "
            "(the template defines them; the local emulator creates none)"
        )


def concurrency_limit(ctx: StackContext, snap: dict[str, Any]) -> None:
    response = ctx.client("lambda").get_function_concurrency(
        FunctionName=ctx.output("ProcessObjectFunctionName")
    )
    limit = response.get("ReservedConcurrentExecutions")
    snap["process_object"]["limit"] = None if limit is None else int(limit)
