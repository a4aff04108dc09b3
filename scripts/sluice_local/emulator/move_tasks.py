"""SQS's dead-letter queue redrive (message move tasks), which moto does not implement; active only
while a local pipeline runs."""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

# SQS's own limit for StartMessageMoveTask's MaxNumberOfMessagesPerSecond.
MOVE_TASK_MAX_RATE = 500
# Move tasks answer only while a local pipeline runs (LocalPipeline sets it): elsewhere in the
# same process, moto alone answers as it always did (NotImplementedError).
_move_tasks_active = False


def set_active(active: bool) -> None:
    global _move_tasks_active
    _move_tasks_active = active


def _require_move_tasks(action: str) -> None:
    if not _move_tasks_active:
        raise NotImplementedError(f"The {action} action has not been implemented")


@dataclass
class _MoveTask:
    """One StartMessageMoveTask, as ListMessageMoveTasks describes it."""

    handle: str
    source_arn: str
    destination_arn: str | None
    rate: int | None
    to_move: int
    started_ms: int
    moved: int = 0
    status: str = "RUNNING"
    failure: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event)

    def entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "Status": self.status,
            "SourceArn": self.source_arn,
            "ApproximateNumberOfMessagesMoved": self.moved,
            "ApproximateNumberOfMessagesToMove": self.to_move,
            "StartedTimestamp": self.started_ms,
        }
        if self.status == "RUNNING":  # AWS gives the handle of a running task only
            entry["TaskHandle"] = self.handle
        if self.destination_arn:
            entry["DestinationArn"] = self.destination_arn
        if self.rate is not None:
            entry["MaxNumberOfMessagesPerSecond"] = self.rate
        if self.failure:
            entry["FailureReason"] = self.failure
        return entry


def install_message_move_tasks() -> None:
    """SQS's dead-letter queue redrive (StartMessageMoveTask, ListMessageMoveTasks,
    CancelMessageMoveTask), which moto does not implement: the task moves the messages visible in
    the dead-letter queue when it starts to the destination (DestinationArn, else the one queue
    whose RedrivePolicy names the dead-letter queue) at MaxNumberOfMessagesPerSecond (real
    seconds), each sent as a new message with its body and attributes, then deleted. As in SQS:
    the source must be some queue's dead-letter queue, standard queues only, one running task per
    source, the rate at most 500, ListMessageMoveTasks newest first (MaxResults 1 to 10) with the
    TaskHandle of a running task only. Locally a DLQ with several source queues needs a
    DestinationArn (SQS remembers each message's source; moto does not)."""
    import uuid

    from moto.core.exceptions import JsonRESTError
    from moto.core.responses import ActionResult
    from moto.sqs.exceptions import InvalidParameterValue
    from moto.sqs.models import SQSBackend
    from moto.sqs.responses import SQSResponse

    def tasks_of(backend: SQSBackend) -> list[_MoveTask]:
        # On the backend: a reset (mock_aws start) forgets them with the queues.
        tasks: list[_MoveTask] = backend.__dict__.setdefault("sluice_move_tasks", [])
        return tasks

    def queue_named_by(backend: SQSBackend, arn: str) -> Any:
        return backend.get_queue(str(arn).rsplit(":", 1)[-1])  # QueueDoesNotExist if none

    def move(backend: SQSBackend, task: _MoveTask, source: Any, destination: Any) -> None:
        interval = 1.0 / task.rate if task.rate else 0.0
        try:
            while task.moved < task.to_move and not task.cancel.is_set():
                with source._messages_lock:
                    visible = source.messages
                    message = visible[0] if visible else None
                    if message is not None:
                        source._messages.remove(message)
                if message is None:
                    break  # fewer left than counted at the start (received, expired)
                try:
                    backend.send_message(
                        destination.name, message.body, dict(message.message_attributes)
                    )
                except InvalidParameterValue as error:
                    with source._messages_lock:
                        source._messages.append(message)  # not moved: it stays
                    task.status, task.failure = "FAILED", error.message
                    return
                task.moved += 1
                if interval:
                    task.cancel.wait(interval)
            task.status = "CANCELLED" if task.cancel.is_set() else "COMPLETED"
        except Exception as error:  # the task fails; the process carries on
            task.status, task.failure = "FAILED", str(error)

    def start_message_move_task(self: Any) -> ActionResult:
        _require_move_tasks("start_message_move_task")
        backend = self.sqs_backend
        source_arn = self._get_param("SourceArn")
        destination_arn = self._get_param("DestinationArn")
        rate = self._get_param("MaxNumberOfMessagesPerSecond")
        rate = int(rate) if rate is not None else None
        if rate is not None and not 1 <= rate <= MOVE_TASK_MAX_RATE:
            raise InvalidParameterValue(
                f"Value {rate} for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: "
                f"must be between 1 and {MOVE_TASK_MAX_RATE}."
            )
        source = queue_named_by(backend, source_arn)
        origins = backend.list_dead_letter_source_queues(source.name)
        if not origins:
            raise InvalidParameterValue("Source queue must be configured as a Dead Letter Queue.")
        if source.fifo_queue:
            raise InvalidParameterValue("The source queue must be a standard queue.")
        if destination_arn:
            destination = queue_named_by(backend, destination_arn)
        elif len(origins) == 1:
            destination = origins[0]
        else:
            raise InvalidParameterValue(
                "The local emulator cannot tell which source queue each message came from: "
                "give DestinationArn."
            )
        tasks = tasks_of(backend)
        if any(t.source_arn == source_arn and t.status == "RUNNING" for t in tasks):
            raise InvalidParameterValue(
                "There is already a task running. Only one active task is allowed for a source "
                "queue arn at a given time."
            )
        task = _MoveTask(
            handle=base64.b64encode(
                json.dumps({"taskId": str(uuid.uuid4()), "sourceArn": source_arn}).encode()
            ).decode(),
            source_arn=source_arn,
            destination_arn=destination_arn,
            rate=rate,
            to_move=len(source.messages),
            started_ms=int(time.time() * 1000),
        )
        tasks.append(task)
        threading.Thread(
            target=move, args=(backend, task, source, destination), daemon=True
        ).start()
        return ActionResult({"TaskHandle": task.handle})

    def list_message_move_tasks(self: Any) -> ActionResult:
        _require_move_tasks("list_message_move_tasks")
        source_arn = self._get_param("SourceArn")
        queue_named_by(self.sqs_backend, source_arn)
        limit = int(self._get_param("MaxResults") or 1)
        if not 1 <= limit <= 10:
            raise InvalidParameterValue(
                f"Value {limit} for parameter MaxResults is invalid. Reason: must be between 1 "
                "and 10."
            )
        tasks = [t for t in tasks_of(self.sqs_backend) if t.source_arn == source_arn]
        return ActionResult({"Results": [t.entry() for t in reversed(tasks)][:limit]})

    def cancel_message_move_task(self: Any) -> ActionResult:
        _require_move_tasks("cancel_message_move_task")
        handle = self._get_param("TaskHandle")
        for task in tasks_of(self.sqs_backend):
            if task.handle == handle and task.status == "RUNNING":
                task.status = "CANCELLING"
                task.cancel.set()
                return ActionResult({"ApproximateNumberOfMessagesMoved": task.moved})
        raise JsonRESTError(
            "ResourceNotFoundException", "One or more specified resources don't exist."
        )

    response: Any = SQSResponse  # moto's dispatcher calls the action's snake_case method
    response.start_message_move_task = start_message_move_task
    response.list_message_move_tasks = list_message_move_tasks
    response.cancel_message_move_task = cancel_message_move_task
