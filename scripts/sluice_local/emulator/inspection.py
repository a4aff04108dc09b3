"""What a run looks at in the deployed pipeline: queue depths, dead letters left in place,
executions and their histories, and waits until the event sources and executions are done.
A mixin of :class:`sluice_local.emulator.runtime.LocalPipeline`."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sluice_local.terminal import readable_reason

if TYPE_CHECKING:
    from sluice_local.sources.pipes import PipeRunner
    from sluice_local.sources.streams import StreamMappingRunner


@dataclass(frozen=True)
class DeadLetter:
    body: str
    attributes: dict[str, str]

    @property
    def reason(self) -> str:
        """Why it is here: the drain's reason attribute, EventBridge's error, or SQS redrive."""
        return readable_reason(
            self.attributes.get("sluice-reason")
            or self.attributes.get("ERROR_MESSAGE")  # EventBridge target dead-letter
            or "received MaxReceiveCount times without being deleted (SQS redrive)"
        )

    @property
    def object_key(self) -> str | None:
        try:
            event = json.loads(self.body)
        except (json.JSONDecodeError, RecursionError):  # deeply nested JSON is a dead letter too
            return None
        if not isinstance(event, dict):
            return None
        details = event.get("s3_details") or {}
        key = details.get("key") or (event.get("detail") or {}).get("object", {}).get("key")
        return key if isinstance(key, str) else None


class Inspection:
    """The observation methods of LocalPipeline (which holds the state they read)."""

    outputs: dict[str, str]
    state_machine_arns: dict[str, str]
    pipes: dict[str, PipeRunner]
    stream_mappings: dict[str, StreamMappingRunner]

    if TYPE_CHECKING:

        def client(self, service: str) -> Any: ...

    def wait_for_streams(self, timeout: float) -> None:
        """Until every stream mapping has read its shards to the end and processed it all."""
        deadline = time.monotonic() + timeout
        time.sleep(0.1)  # let the readers see what was just put
        while not all(m.caught_up for m in self.stream_mappings.values()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"stream mappings not caught up after {timeout}s")
            time.sleep(0.05)

    def queue_counts(self, output_key: str) -> tuple[int, int]:
        """(visible, in flight) messages of the queue whose URL is the given stack output."""
        attrs = self.client("sqs").get_queue_attributes(
            QueueUrl=self.outputs[output_key],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]), int(
            attrs["ApproximateNumberOfMessagesNotVisible"]
        )

    def dead_letters(self, output_key: str = "ObjectDeadLetterQueueUrl") -> list[DeadLetter]:
        """Every message in a dead-letter queue, left in place (made visible again)."""
        sqs = self.client("sqs")
        url = self.outputs[output_key]
        seen: dict[str, DeadLetter] = {}
        handles: list[str] = []
        while True:
            # A long poll: a short one may answer empty while a few messages wait, in SQS as
            # here (sqs_fixes.install_short_polls, strict); this one waits 1 s (time-scaled) at
            # the end.
            batch = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=60,
                WaitTimeSeconds=1,
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not batch:
                break
            for message in batch:
                handles.append(message["ReceiptHandle"])
                attributes = {
                    k: v.get("StringValue", "")
                    for k, v in message.get("MessageAttributes", {}).items()
                }
                seen[message["MessageId"]] = DeadLetter(message["Body"], attributes)
        for handle in handles:
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
        return list(seen.values())

    def executions(self, logical_id: str) -> list[dict[str, Any]]:
        sfn = self.client("stepfunctions")
        result: list[dict[str, Any]] = []
        for page in sfn.get_paginator("list_executions").paginate(
            stateMachineArn=self.state_machine_arns[logical_id]
        ):
            result.extend(page["executions"])
        return result

    def running_executions(self, logical_id: str) -> int:
        return sum(1 for e in self.executions(logical_id) if e["status"] == "RUNNING")

    def state_transitions(self, logical_id: str) -> int:
        """States entered across all executions: what Standard workflows are billed on."""
        return self.history_counts(logical_id)["StateEntered"]

    def history_counts(self, logical_id: str) -> Counter[str]:
        """Counts from every execution's history: ``StateEntered`` (what Standard bills),
        ``state:<name>`` per state, and ``task:<resourceType>:<resource>`` per service call."""
        sfn = self.client("stepfunctions")
        counts: Counter[str] = Counter()
        for execution in self.executions(logical_id):
            for page in sfn.get_paginator("get_execution_history").paginate(
                executionArn=execution["executionArn"]
            ):
                for event in page["events"]:
                    if event["type"].endswith("StateEntered"):
                        counts["StateEntered"] += 1
                        counts[f"state:{event['stateEnteredEventDetails']['name']}"] += 1
                    elif event["type"] == "TaskScheduled":
                        details = event.get("taskScheduledEventDetails", {})
                        counts[f"task:{details.get('resourceType')}:{details.get('resource')}"] += 1
        return counts

    def wait_for_executions(self, logical_id: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.running_executions(logical_id):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{logical_id} executions still running after {timeout}s")
            time.sleep(0.1)

    def wait_for_pipes(self, timeout: float) -> None:
        """Until every pipe's source queue is empty and no batch is being delivered."""
        deadline = time.monotonic() + timeout
        sqs = self.client("sqs")
        while True:
            pending = 0
            for runner in self.pipes.values():
                attrs = sqs.get_queue_attributes(
                    QueueUrl=runner.config.source_queue_url,
                    AttributeNames=[
                        "ApproximateNumberOfMessages",
                        "ApproximateNumberOfMessagesNotVisible",
                    ],
                )["Attributes"]
                pending += int(attrs["ApproximateNumberOfMessages"])
                pending += int(attrs["ApproximateNumberOfMessagesNotVisible"])
                pending += int(runner.busy)
            if not pending:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"pipes still have {pending} messages after {timeout}s")
            time.sleep(0.05)
