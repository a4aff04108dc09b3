"""EventBridge Pipes, driven locally: moto accepts a pipe but never delivers anything.

A :class:`PipeRunner` does what the template's ``AWS::Pipes::Pipe`` asks of AWS for an SQS
source and a Step Functions target invoked ``REQUEST_RESPONSE``: receive a batch (up to
BatchSize, waiting at most MaximumBatchingWindowInSeconds to fill it), hand the state machine the
batch as a JSON array of SQS records, wait for the execution's result and then

- succeeded: delete every message except those the output names in ``batchItemFailures``
  (partial batch failure: ``{"batchItemFailures": [{"itemIdentifier": "<SQS messageId>"}]}``,
  AWS docs "Amazon EventBridge Pipes batching and concurrency"); the named ones come back;
- failed, timed out or aborted: delete nothing; the whole batch comes back.

What comes back is visible again after the queue's visibility timeout (time-scaled), and SQS
moves a message to the dead-letter queue after maxReceiveCount receives, as in AWS.

An output that names a message not in the batch, or an entry without a non-empty string
``itemIdentifier``, counts as a failure of the whole batch. The Pipes page does not say what
AWS does then; Lambda's SQS event source documents exactly that (whole batch failed) for its
identical ``batchItemFailures`` response, and it is the reading that loses nothing. An output
without the key, or with ``null`` or ``[]``, is a complete success (as for Lambda).

moto has no StartSyncExecution, so the runner starts the execution asynchronously (with an
explicit name) and polls it until it ends, which is what a synchronous start waits for.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from sluice_local.emulator import timescale
from sluice_local.sources.batching import BatchingConfig

_RECEIVE_MAX = 10  # SQS ReceiveMessage returns at most 10 messages per call


@dataclass(frozen=True)
class PipeConfig(BatchingConfig):
    """What the runner needs from an ``AWS::Pipes::Pipe`` (resolved properties)."""

    source_queue_url: str
    source_queue_arn: str
    target_arn: str
    visibility_timeout_s: float

    @classmethod
    def from_properties(
        cls,
        logical_id: str,
        props: dict[str, Any],
        *,
        queue_url: str,
        visibility_s: float,
        region: str,
    ) -> PipeConfig:
        source, target = str(props["Source"]), str(props["Target"])
        if ":sqs:" not in source:
            raise ValueError(f"{logical_id}: only SQS sources run locally, not {source}")
        if ":states:" not in target:
            raise ValueError(f"{logical_id}: only Step Functions targets run locally, not {target}")
        invocation = (
            props.get("TargetParameters", {})
            .get("StepFunctionStateMachineParameters", {})
            .get("InvocationType", "FIRE_AND_FORGET")
        )
        if invocation != "REQUEST_RESPONSE":
            raise ValueError(f"{logical_id}: only REQUEST_RESPONSE targets run locally")
        sqs_params = props.get("SourceParameters", {}).get("SqsQueueParameters", {})
        return cls(
            logical_id=logical_id,
            source_queue_url=queue_url,
            source_queue_arn=source,
            target_arn=target,
            **cls.batching(sqs_params, 10),
            visibility_timeout_s=visibility_s,
            region=region,
        )


@dataclass
class PipeStats:
    batches: int = 0
    messages: int = 0
    deleted: int = 0
    failed_executions: int = 0  # the whole batch comes back
    partially_failed_executions: int = 0  # Pipes' ExecutionPartiallyFailed metric
    invalid_outputs: int = 0  # a batchItemFailures the pipe cannot honour: whole batch back
    redelivered: int = 0  # messages left in the queue to come back (any of the above)
    # Receives AWS refused (the role may not read the queue or decrypt it with its key): Pipes
    # keeps polling, and the messages stay in the queue.
    source_errors: int = 0
    last_source_error: str = ""
    execution_names: list[str] = field(default_factory=list)


def sqs_record(message: dict[str, Any], config: PipeConfig) -> dict[str, Any]:
    """One SQS message as Pipes hands it to a target (the Lambda SQS event record shape)."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                "dataType": value.get("DataType"),
                "stringListValues": [],
                "binaryListValues": [],
            }
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": config.source_queue_arn,
        "awsRegion": config.region,
    }


class InvalidBatchItemFailures(ValueError):
    """A ``batchItemFailures`` the pipe cannot honour: the whole batch counts as failed."""


def failed_item_ids(output: str | None, batch_ids: set[str]) -> set[str]:
    """The messages a succeeded execution's output asks to get back (``batchItemFailures``).

    Empty for a complete success (no such key, ``null`` or ``[]``, or an output that is not a
    JSON object); raises :class:`InvalidBatchItemFailures` when the list is not a list of
    ``{"itemIdentifier": <messageId of this batch>}``.
    """
    try:
        parsed = json.loads(output or "null")
    except ValueError as exc:
        raise InvalidBatchItemFailures(f"output is not JSON: {exc}") from exc
    failures = parsed.get("batchItemFailures") if isinstance(parsed, dict) else None
    if failures is None:
        return set()
    if not isinstance(failures, list):
        raise InvalidBatchItemFailures(f"batchItemFailures is not a list: {failures!r}")
    named: set[str] = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or not identifier:
            raise InvalidBatchItemFailures(f"no itemIdentifier in {failure!r}")
        if identifier not in batch_ids:
            raise InvalidBatchItemFailures(f"itemIdentifier {identifier!r} is not in the batch")
        named.add(identifier)
    return named


class PipeRunner:
    """Polls one pipe's source queue on a thread of its own until stopped."""

    def __init__(self, config: PipeConfig, sqs: Any, sfn: Any, stop: threading.Event) -> None:
        self.config = config
        self.sqs = sqs
        self.sfn = sfn
        self.stop = stop
        self.stats = PipeStats()
        self.busy = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"sluice-pipe-{self.config.logical_id}", daemon=True
        )
        self._thread.start()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self.stop.is_set():
            if not self.poll_once():
                self.stop.wait(0.05)

    def _receive_batch(self) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        window_ends = time.monotonic() + self.config.window_s()
        while len(batch) < self.config.batch_size:
            # Pipes long-polls (a short poll may miss a few messages, in SQS as here); 1 s,
            # time-scaled, rather than Pipes' 20 s, so that stopping the runner stays quick.
            got = self.sqs.receive_message(
                QueueUrl=self.config.source_queue_url,
                MaxNumberOfMessages=min(_RECEIVE_MAX, self.config.batch_size - len(batch)),
                WaitTimeSeconds=1,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            batch.extend(got)
            if not batch or time.monotonic() >= window_ends or self.stop.is_set():
                break
            if not got:
                self.stop.wait(0.02)
        return batch

    def poll_once(self) -> bool:
        """Run one batch through the target; False when the queue had nothing."""
        self.busy = True
        try:
            try:
                batch = self._receive_batch()
            except ClientError as error:
                self.stats.source_errors += 1
                self.stats.last_source_error = str(error)
                return False
            if not batch:
                return False
            self._deliver(batch)
            return True
        finally:
            self.busy = False

    def _deliver(self, batch: list[dict[str, Any]]) -> None:
        name = f"{self.config.logical_id}-{uuid.uuid4().hex[:16]}"
        records = [sqs_record(m, self.config) for m in batch]
        execution_arn = self.sfn.start_execution(
            stateMachineArn=self.config.target_arn, name=name, input=json.dumps(records)
        )["executionArn"]
        self.stats.batches += 1
        self.stats.messages += len(batch)
        self.stats.execution_names.append(name)
        while True:
            if self.stop.is_set():
                # The runtime is stopping (and its emulator with it): the batch stays in the
                # queue, as when Pipes is stopped mid-execution.
                return
            described = self.sfn.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                break
            time.sleep(0.02)
        if described["status"] != "SUCCEEDED":
            self.stats.failed_executions += 1
            self._leave_for_redelivery(batch)
            return
        try:
            keep = failed_item_ids(described.get("output"), {m["MessageId"] for m in batch})
        except InvalidBatchItemFailures:
            self.stats.invalid_outputs += 1
            self._leave_for_redelivery(batch)
            return
        if keep:
            self.stats.partially_failed_executions += 1
        self._leave_for_redelivery([m for m in batch if m["MessageId"] in keep])
        done = [m for m in batch if m["MessageId"] not in keep]
        for start in range(0, len(done), _RECEIVE_MAX):
            self.sqs.delete_message_batch(
                QueueUrl=self.config.source_queue_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                    for n, m in enumerate(done[start : start + _RECEIVE_MAX])
                ],
            )
        self.stats.deleted += len(done)

    def _leave_for_redelivery(self, messages: list[dict[str, Any]]) -> None:
        """As in AWS: not deleted, so visible again after the queue's visibility timeout
        (time-scaled here; moto counts it in real seconds from the receive)."""
        self.stats.redelivered += len(messages)
        visible_in = round(self.config.visibility_timeout_s * timescale.current_scale())
        for message in messages:
            self.sqs.change_message_visibility(
                QueueUrl=self.config.source_queue_url,
                ReceiptHandle=message["ReceiptHandle"],
                VisibilityTimeout=visible_in,
            )
