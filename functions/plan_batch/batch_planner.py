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
at the observed time per object, so a batch rarely outlasts the round. While the time per object
is unknown (a drain's first round), the round is a probe: one object per worker. The
``priority`` attribute orders objects within a batch; the PriorityQueue is how an object jumps
the whole backlog.

Every worker also gets the round's ``objectStartBy`` (the drain lease's bound: an object due
later goes back to its queue unprocessed, however slow the batch before it was) and how its
receives from the PriorityQueue poll (``priorityWaitSeconds``). Parsing a message
never raises: whatever is wrong with one message becomes that item's error (it is dead-lettered),
so one bad message cannot fail the batch, and with it every drain, until ``MaxReceiveCount``.
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
# A short poll samples a subset of SQS servers and can miss the few messages a PriorityQueue
# holds; a long poll asks them all and returns as soon as one has a message.
PRIORITY_LONG_POLL_SECONDS = 1
MAX_CAUSE_CHARS = 500  # a dead-letter reason names the problem; the body is dead-lettered as-is
# An S3 event is 4 levels deep. Deeper bodies are refused here, not where the interpreter gives
# up: CPython 3.11 raises RecursionError near 1,000 levels, 3.13 (Lambda's runtime) parses
# 5,000 and more, so the same message would be "nested too deeply" locally and reach
# parse_object_ref, and everything after it, in Lambda.
MAX_BODY_DEPTH = 32


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
    *,
    object_start_by: float | None = None,
    priority_depth: int = 0,
) -> list[dict[str, Any]]:
    """One entry per worker of the round: its stagger delay and what it needs to run alone.

    ``priorityWaitSeconds``: while the PriorityQueue showed messages at the round's start, a
    worker long-polls it (until it first finds it empty); otherwise it short-polls, so an empty
    PriorityQueue costs no wait per batch."""
    step = stagger_step(settings, queue_depth)
    priority_wait = PRIORITY_LONG_POLL_SECONDS if priority_depth > 0 else 0
    return [
        {
            "worker": index,
            "delaySeconds": min(settings.max_stagger_seconds, int(index * step)),
            "receive": receive,
            "deadline": deadline,
            "objectStartBy": object_start_by,
            "priorityWaitSeconds": priority_wait,
            "baselineMsPerRow": baseline_ms_per_row,
        }
        for index in range(concurrency)
    ]


def message_priority(message: Any) -> int:
    """The ``priority`` message attribute as an int (absent or unreadable: 0)."""
    try:
        attribute = (message.get("MessageAttributes") or {}).get(PRIORITY_ATTRIBUTE) or {}
        return int(float(attribute.get("StringValue", 0)))
    except (AttributeError, TypeError, ValueError, OverflowError):  # "high", "NaN", "INF"
        return 0


def receive_count(message: Any) -> int:
    """ApproximateReceiveCount (absent or unreadable: 1, the first receive)."""
    try:
        return int((message.get("Attributes") or {}).get("ApproximateReceiveCount", 1))
    except (AttributeError, TypeError, ValueError):
        return 1


def _parse_body(message: Mapping[str, Any]) -> dict[str, Any]:
    """s3Details for a parsable message, else an ``error`` the drain dead-letters."""
    body = message.get("Body")
    try:
        event = json.loads(body) if isinstance(body, str) else None
    except json.JSONDecodeError as exc:
        return _error("MalformedEvent", f"message body is not JSON ({exc.msg} at {exc.pos})")
    except RecursionError:  # deeper than this interpreter parses: past MAX_BODY_DEPTH too
        return _error("MalformedEvent", _TOO_DEEP)
    if _deeper_than(event, MAX_BODY_DEPTH):
        return _error("MalformedEvent", _TOO_DEEP)
    if not isinstance(event, dict):
        return _error("MalformedEvent", "message body is not a JSON object")
    try:
        ref = parse_object_ref(event)
    except SluiceError as exc:
        return _error(type(exc).__name__, str(exc))
    return {"s3Details": ref.to_s3_details()}


_TOO_DEEP = (
    f"message body is JSON nested too deeply to read (over {MAX_BODY_DEPTH} levels; an S3 "
    "event has 4)"
)


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than ``limit`` levels in ``value`` (the top-level
    container is level 1). A loop, not recursion: it must not fail where the parser did not."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = (
            node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        )
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def _error(name: str, cause: str) -> dict[str, Any]:
    if len(cause) > MAX_CAUSE_CHARS:
        cause = cause[: MAX_CAUSE_CHARS - 3] + "..."
    return {"s3Details": None, "error": {"Error": name, "Cause": cause}}


def _text(message: Mapping[str, Any], name: str) -> str:
    value = message.get(name)
    return value if isinstance(value, str) else ""


def plan_item(
    message: Any, queue_url: str = "", max_receive_count: int | None = None
) -> dict[str, Any]:
    """One message as a ProcessBatch item; never raises (a message it cannot read becomes an
    item carrying a MalformedEvent error)."""
    if not isinstance(message, Mapping):
        message = {}
    count = receive_count(message)
    item: dict[str, Any] = {
        "messageId": _text(message, "MessageId"),
        "queueUrl": queue_url,
        "receiptHandle": _text(message, "ReceiptHandle"),
        "body": _text(message, "Body") or "(empty body)",
        "priority": message_priority(message),
        "receiveCount": count,
        # SQS moves the message to the dead-letter queue (without a reason) at its next receive:
        # anything the drain would hand back dead-letters it now, with the reason.
        "lastReceive": max_receive_count is not None and count >= max_receive_count,
    }
    try:
        item.update(_parse_body(message))
    except Exception as exc:  # one unreadable message must not fail the batch, and every drain
        item.update(_error("MalformedEvent", f"message not readable ({type(exc).__name__}: {exc})"))
    return item


def plan_batch(
    messages: Sequence[Any], queue_url: str = "", max_receive_count: int | None = None
) -> list[dict[str, Any]]:
    """Items for a worker's ProcessBatch, highest priority first, each with the queue it came
    from (where it is deleted or returned) and whether this is its last receive."""
    indexed = sorted(enumerate(messages), key=lambda pair: (-message_priority(pair[1]), pair[0]))
    return [plan_item(message, queue_url, max_receive_count) for _, message in indexed]
