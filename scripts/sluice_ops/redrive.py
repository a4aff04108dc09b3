"""Dead-letter queue tooling: list what is there and why, and send it back to be processed.

Two ways to redrive:

- **move task** (AWS): SQS ``StartMessageMoveTask`` moves every message from the dead-letter
  queue back to its source queue, server-side, at a rate you set. It cannot filter.
- **copy** (filters, dry runs, the local runtime, where moto lacks the move-task API): receive
  from the dead-letter queue, send each matching message to the source queue with its original
  body, then delete it from the dead-letter queue. Messages that do not match are held invisible
  while the run lasts (so each is looked at once) and made visible again at the end.

A message is sent before it is deleted, so a crash in between redrives it twice at worst, never
loses it; the pipeline's idempotency keys make a repeat harmless downstream.

Takes its SQS client as an argument; no boto3 import at module level.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sluice_local.terminal import printable, readable_reason

ERROR_ATTRIBUTE = "sluice-error"
REASON_ATTRIBUTE = "sluice-reason"
HOLD_SECONDS = 600  # how long a looked-at message stays invisible during one run


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    receipt_handle: str
    body: str
    error: str
    reason: str
    receive_count: int
    attributes: dict[str, Any]

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> DeadLetter:
        attributes = message.get("MessageAttributes") or {}

        def text(name: str) -> str:
            return str((attributes.get(name) or {}).get("StringValue", ""))

        return cls(
            message_id=message["MessageId"],
            receipt_handle=message["ReceiptHandle"],
            body=message.get("Body", ""),
            # No sluice-error attribute: SQS moved it here after MaxReceiveCount receives.
            error=text(ERROR_ATTRIBUTE) or "MaxReceiveCountExceeded",
            reason=readable_reason(text(REASON_ATTRIBUTE))
            or "received MaxReceiveCount times without being deleted (poison message, or the "
            "drain kept failing on it)",
            receive_count=int((message.get("Attributes") or {}).get("ApproximateReceiveCount", 0)),
            attributes=attributes,
        )


@dataclass
class RedriveReport:
    examined: int = 0
    redriven: int = 0
    skipped: int = 0  # did not match the filter
    by_error: Counter[str] = field(default_factory=Counter)
    dry_run: bool = False

    def lines(self) -> list[str]:
        verb = "would redrive" if self.dry_run else "redriven"
        out = [
            f"examined {self.examined}, {verb} {self.redriven}, left (not matching) {self.skipped}"
        ]
        # The sluice-error attribute is whatever the message carried: printed escaped.
        out += [f"  {printable(error)}: {count}" for error, count in sorted(self.by_error.items())]
        return out


def _receive(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    response = sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=10,
        WaitTimeSeconds=1,
        VisibilityTimeout=HOLD_SECONDS,
        MessageAttributeNames=["All"],
        AttributeNames=["ApproximateReceiveCount"],
    )
    return list(response.get("Messages") or [])


def _held(sqs: Any, queue_url: str, limit: int | None) -> Iterator[DeadLetter]:
    """Each message of the queue once (held invisible), until it is empty or ``limit``."""
    seen = 0
    while limit is None or seen < limit:
        batch = _receive(sqs, queue_url)
        if not batch:
            return
        for message in batch:
            seen += 1
            yield DeadLetter.from_message(message)


def _release(sqs: Any, queue_url: str, letters: list[DeadLetter]) -> None:
    """Make held messages visible again at once."""
    for start in range(0, len(letters), 10):
        chunk = letters[start : start + 10]
        sqs.change_message_visibility_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(n), "ReceiptHandle": d.receipt_handle, "VisibilityTimeout": 0}
                for n, d in enumerate(chunk)
            ],
        )


def list_dead_letters(sqs: Any, dlq_url: str, limit: int = 100) -> list[DeadLetter]:
    """Up to ``limit`` dead letters with their reasons; the queue is left as it was."""
    letters = list(_held(sqs, dlq_url, limit))
    _release(sqs, dlq_url, letters)
    return letters


def copy_redrive(
    sqs: Any,
    dlq_url: str,
    source_url: str,
    *,
    match: Callable[[DeadLetter], bool] = lambda _: True,
    per_second: float = 10.0,
    dry_run: bool = False,
    limit: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> RedriveReport:
    """Send matching dead letters back to ``source_url`` (body as-is), at most ``per_second``."""
    if per_second <= 0:
        raise ValueError("per_second must be positive")
    report = RedriveReport(dry_run=dry_run)
    left: list[DeadLetter] = []
    next_send = clock()
    try:
        for letter in _held(sqs, dlq_url, limit):
            report.examined += 1
            if not match(letter):
                report.skipped += 1
                left.append(letter)
                continue
            report.redriven += 1
            report.by_error[letter.error] += 1
            if dry_run:
                left.append(letter)
                continue
            if (wait := next_send - clock()) > 0:
                sleep(wait)
            next_send = max(clock(), next_send) + 1 / per_second
            # The reason attributes stay behind: the message goes back as it first arrived.
            kept = {k: v for k, v in letter.attributes.items() if not k.startswith("sluice-")}
            sqs.send_message(QueueUrl=source_url, MessageBody=letter.body, MessageAttributes=kept)
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=letter.receipt_handle)
    finally:
        _release(sqs, dlq_url, left)
    return report


def start_move_task(sqs: Any, dlq_arn: str, source_arn: str, per_second: int) -> str:
    """Start SQS's own redrive (every message, server-side); returns the task handle."""
    response = sqs.start_message_move_task(
        SourceArn=dlq_arn, DestinationArn=source_arn, MaxNumberOfMessagesPerSecond=per_second
    )
    return str(response["TaskHandle"])


def move_task_status(sqs: Any, dlq_arn: str) -> dict[str, Any]:
    """The newest move task on the dead-letter queue (status, messages moved so far)."""
    tasks = sqs.list_message_move_tasks(SourceArn=dlq_arn, MaxResults=1).get("Results") or []
    return dict(tasks[0]) if tasks else {}
