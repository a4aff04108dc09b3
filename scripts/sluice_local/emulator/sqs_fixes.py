"""SQS as AWS runs it, where moto departs: one clock read per call, atomic queue operations,
the message size limit and short polls that may answer empty (strict, see
:data:`sluice_local.emulator.fixes.STRICT`).
"""

from __future__ import annotations

import base64
import random
import threading
from typing import Any

from sluice_local.emulator import fixes


def install_sqs_clock_once() -> None:
    """moto's SQS read the clock twice per message on every receive and depth read (O(queue)
    datetime calls under the queue lock): with 1,000 messages queued that, not the drain, set
    the pace of benchmarks/bound.py. Same visibility rules, the clock read once per call."""
    from moto.core.utils import unix_time_millis
    from moto.sqs.models import Queue

    def messages(self: Any) -> list[Any]:
        now = unix_time_millis()
        return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]

    def delayed(self: Any) -> int:
        now = unix_time_millis()
        return sum(1 for m in self._messages if now < m.delayed_until)

    def not_visible(self: Any) -> int:
        now = unix_time_millis()
        return sum(1 for m in self._messages if not now > m.visible_at)

    Queue.messages = property(messages)  # type: ignore[method-assign,assignment]
    Queue.approximate_number_of_messages_delayed = property(delayed)  # type: ignore[method-assign,assignment]
    Queue.approximate_number_of_messages_not_visible = property(not_visible)  # type: ignore[method-assign,assignment]


def install_sqs_atomicity() -> None:
    """SQS hands a message to one receiver at a time and a delete is final; moto's queue is not
    thread-safe. Its delete rebuilds the message list and assigns it back, so two deletes at
    once (a Map deleting its items in parallel) can undo one another and the message comes back
    after the visibility timeout (seen: 11 of 1,000 objects processed twice); an append racing
    the rebuild is lost. Each queue's own lock (the Condition moto appends under, re-entrant,
    released while a long poll waits) now also covers delete, receive and visibility changes."""
    from moto.sqs.models import Queue, SQSBackend

    original_delete = Queue.delete_message

    def delete_message(self: Any, receipt_handle: str) -> None:
        with self._messages_lock:
            original_delete(self, receipt_handle)

    Queue.delete_message = delete_message  # type: ignore[method-assign]

    for name in ("receive_message", "change_message_visibility"):
        original = getattr(SQSBackend, name)

        def locked(
            self: Any, queue_name: str, *args: Any, _original: Any = original, **kwargs: Any
        ) -> Any:
            with self.get_queue(queue_name)._messages_lock:
                return _original(self, queue_name, *args, **kwargs)

        setattr(SQSBackend, name, locked)


def _sqs_message_size(body: str, attributes: dict[str, Any] | None) -> int:
    """SQS's count: the body and each attribute's name, data type and value, in bytes."""
    size = len(body.encode("utf-8"))
    for name, attribute in (attributes or {}).items():
        size += len(name.encode("utf-8")) + len(str(attribute.get("DataType", "")).encode("utf-8"))
        if "BinaryValue" in attribute:
            value = attribute["BinaryValue"]
            size += len(value) if isinstance(value, bytes) else len(base64.b64decode(value))
        else:
            size += len(str(attribute.get("StringValue", "")).encode("utf-8"))
    return size


last_send = threading.local()  # this thread's last SendMessage: (body, attributes)


def install_sqs_message_size() -> None:
    """Strict. SQS refuses a message whose body plus message attributes (names, data types,
    values) exceeds the queue's MaximumMessageSize in bytes: InvalidParameterValue, "Message must
    be shorter than N bytes". moto counted the body's characters only, so non-ASCII text or large
    attributes got through. A batch is refused whole, before any entry is sent."""
    from moto.sqs.exceptions import BatchRequestTooLong, InvalidParameterValue
    from moto.sqs.models import MAXIMUM_MESSAGE_LENGTH, SQSBackend

    def check(queue: Any, body: str, attributes: dict[str, Any] | None) -> int:
        size = _sqs_message_size(body, attributes)
        if size > queue.maximum_message_size:
            raise InvalidParameterValue(
                "One or more parameters are invalid. Reason: Message must be shorter than "
                f"{queue.maximum_message_size} bytes."
            )
        return size

    send_message = SQSBackend.send_message
    send_message_batch = SQSBackend.send_message_batch

    def send(
        self: Any,
        queue_name: str,
        message_body: str,
        message_attributes: dict[str, Any] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        # What SNS was delivering, should the queue refuse it (see
        # delivery_fixes.install_delivery_failures).
        last_send.message = (message_body, message_attributes or {})
        if fixes.STRICT:
            check(self.get_queue(queue_name), message_body, message_attributes)
        return send_message(self, queue_name, message_body, message_attributes, *args, **kwargs)

    def send_batch(self: Any, queue_name: str, entries: dict[str, dict[str, Any]]) -> Any:
        if fixes.STRICT:
            queue = self.get_queue(queue_name)
            total = sum(
                check(queue, e["MessageBody"], e.get("MessageAttributes")) for e in entries.values()
            )
            if total > MAXIMUM_MESSAGE_LENGTH:
                raise BatchRequestTooLong(total)
        return send_message_batch(self, queue_name, entries)

    SQSBackend.send_message = send  # type: ignore[method-assign]
    SQSBackend.send_message_batch = send_batch  # type: ignore[method-assign]


def install_short_polls() -> None:
    """Strict. A short poll (WaitTimeSeconds 0 and no ReceiveMessageWaitTimeSeconds) asks only a
    sample of SQS's servers: with few messages queued "a particular request might not return any
    of your messages" (SQS docs, short and long polling); a later one will. moto always answered
    from every message. With fewer than fixes.SHORT_POLL_FEW_MESSAGES visible, a short poll now
    answers none with probability fixes.SHORT_POLL_MISS_PROBABILITY, drawn per queue and call
    from fixes.SHORT_POLL_SEED (a queue's n-th short poll answers alike in every run); a long
    poll always sees what is there."""
    from moto.sqs.models import SQSBackend

    original = SQSBackend.receive_message
    lock = threading.Lock()

    def receive_message(
        self: Any,
        queue_name: str,
        count: int,
        wait_seconds_timeout: float,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        if fixes.STRICT and not wait_seconds_timeout and fixes.SHORT_POLL_MISS_PROBABILITY > 0:
            queue = self.get_queue(queue_name)
            with lock:
                polls = queue.__dict__.get("sluice_short_polls", 0)
                queue.sluice_short_polls = polls + 1
            draw = random.Random(f"{fixes.SHORT_POLL_SEED}:{queue.name}:{polls}").random()  # noqa: S311 - a simulation, not a secret
            if (
                draw < fixes.SHORT_POLL_MISS_PROBABILITY
                and len(queue.messages) < fixes.SHORT_POLL_FEW_MESSAGES
            ):
                return []
        return original(self, queue_name, count, wait_seconds_timeout, *args, **kwargs)  # type: ignore[arg-type]

    SQSBackend.receive_message = receive_message  # type: ignore[method-assign]
