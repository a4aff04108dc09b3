"""Plan one received batch: parse each message, order by priority, compute stagger delays.

The delay of an item is ``rank * step`` seconds, capped at ``max_stagger_seconds``: rank is the
item's position once the batch is sorted by priority (higher first, then arrival order), and
``step`` is ``stagger_seconds`` while the backlog fits in one batch, shrinking in proportion as
the queue backs up (``stagger_seconds * batch_size / queue_depth``), so a deep queue is drained at
full concurrency while a trickle is spread out.
"""

from __future__ import annotations

import json
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


def message_priority(message: Mapping[str, Any]) -> int:
    """The ``priority`` message attribute as an int (absent or unreadable: 0)."""
    attribute = (message.get("MessageAttributes") or {}).get(PRIORITY_ATTRIBUTE) or {}
    try:
        return int(float(attribute.get("StringValue", 0)))
    except (TypeError, ValueError):
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


def plan_batch(
    messages: Sequence[Mapping[str, Any]],
    queue_depth: int,
    settings: StaggerSettings,
    queue_url: str = "",
) -> list[dict[str, Any]]:
    """Items for the drain's Map, highest priority first, each with its delay in seconds and
    the queue it came from (where it is deleted or returned)."""
    indexed = sorted(enumerate(messages), key=lambda pair: (-message_priority(pair[1]), pair[0]))
    step = stagger_step(settings, queue_depth)
    items = []
    for rank, (_, message) in enumerate(indexed):
        attributes = message.get("Attributes") or {}
        items.append(
            {
                "messageId": message.get("MessageId", ""),
                "queueUrl": queue_url,
                "receiptHandle": message.get("ReceiptHandle", ""),
                "body": message.get("Body") or "(empty body)",
                "priority": message_priority(message),
                "receiveCount": int(attributes.get("ApproximateReceiveCount", 1)),
                "delaySeconds": min(settings.max_stagger_seconds, int(rank * step)),
                **_parse_body(message),
            }
        )
    return items
