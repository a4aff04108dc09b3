"""Plan a round of workers, and each batch a worker receives.

A round runs ``concurrency`` workers side by side; each takes batches from the queues, one object
at a time, until the round's deadline, an empty queue, or downstream pushback. Workers start
staggered: worker ``i`` waits ``i * step`` seconds (capped at ``max_stagger_seconds``), where
``step`` is ``stagger_seconds`` while the backlog fits in one batch and shrinks in proportion as
the queue backs up (``stagger_seconds * batch_size / queue_depth``): a trickle is spread out, a
deep queue is drained at full concurrency at once. Within a batch, objects go in priority order
(the ``priority`` message attribute, higher first, then arrival order).

A worker's batch is at most its share of the backlog (so no worker is left holding the tail
while others idle), at most ``batch_size``, and no more objects than fit in one function timeout
at the observed time per object: that is the tail the drain lease allows a round beyond its
deadline. While the time per object is unknown (a drain's first round), the round is a probe:
one object per worker. The ``priority`` attribute orders objects within a
batch; the PriorityQueue is how an object jumps the whole backlog.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sluice_common.errors import SluiceError
from sluice_common.events import parse_object_ref

PRIORITY_ATTRIBUTE = "priority"


@dataclass(frozen=True)
class StaggerSettings:
    stagger_seconds: float
    max_stagger_seconds: int
    batch_size: int


def stagger_step(settings: StaggerSettings, queue_depth: int) -> float:
    """Seconds between consecutive ranks for the current backlog."""
    if queue_depth <= settings.batch_size:
        return settings.stagger_seconds
    return settings.stagger_seconds * settings.batch_size / queue_depth


def receive_size(
    settings: StaggerSettings,
    queue_depth: int,
    concurrency: int,
    seconds_per_object: float | None,
    function_timeout_s: float,
) -> int:
    """How many messages each worker takes per batch this round."""
    share = math.ceil(max(0, queue_depth) / max(1, concurrency))
    fits = 1 if not seconds_per_object else int(function_timeout_s // seconds_per_object)
    return max(1, min(settings.batch_size, share, fits))


def plan_workers(
    settings: StaggerSettings,
    queue_depth: int,
    concurrency: int,
    receive: int,
    deadline: float,
    baseline_ms_per_row: float | None,
) -> list[dict[str, Any]]:
    """One entry per worker of the round: its stagger delay and what it needs to run alone."""
    step = stagger_step(settings, queue_depth)
    return [
        {
            "worker": index,
            "delaySeconds": min(settings.max_stagger_seconds, int(index * step)),
            "receive": receive,
            "deadline": deadline,
            "baselineMsPerRow": baseline_ms_per_row,
        }
        for index in range(concurrency)
    ]


def message_priority(message: Mapping[str, Any]) -> int:
    """The ``priority`` message attribute as an int (absent or unreadable: 0)."""
    attribute = (message.get("MessageAttributes") or {}).get(PRIORITY_ATTRIBUTE) or {}
    try:
        return int(float(attribute.get("StringValue", 0)))
    except (TypeError, ValueError, OverflowError):  # "high", "NaN", "INF": unreadable
        return 0


def _parse_body(message: Mapping[str, Any]) -> dict[str, Any]:
    """s3Details for a parsable message, else an ``error`` the drain dead-letters."""
    body = message.get("Body")
    try:
        event = json.loads(body) if isinstance(body, str) else None
    except json.JSONDecodeError as exc:
        return _error("MalformedEvent", f"message body is not JSON ({exc.msg} at {exc.pos})")
    if not isinstance(event, dict):
        return _error("MalformedEvent", "message body is not a JSON object")
    try:
        ref = parse_object_ref(event)
    except SluiceError as exc:
        return _error(type(exc).__name__, str(exc))
    return {"s3Details": ref.to_s3_details()}


def _error(name: str, cause: str) -> dict[str, Any]:
    return {"s3Details": None, "error": {"Error": name, "Cause": cause}}


def plan_batch(messages: Sequence[Mapping[str, Any]], queue_url: str = "") -> list[dict[str, Any]]:
    """Items for a worker's ProcessBatch, highest priority first, each with the queue it came
    from (where it is deleted or returned)."""
    indexed = sorted(enumerate(messages), key=lambda pair: (-message_priority(pair[1]), pair[0]))
    items = []
    for _, message in indexed:
        attributes = message.get("Attributes") or {}
        items.append(
            {
                "messageId": message.get("MessageId", ""),
                "queueUrl": queue_url,
                "receiptHandle": message.get("ReceiptHandle", ""),
                "body": message.get("Body") or "(empty body)",
                "priority": message_priority(message),
                "receiveCount": int(attributes.get("ApproximateReceiveCount", 1)),
                **_parse_body(message),
            }
        )
    return items
