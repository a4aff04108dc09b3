"""PlanBatch handler: the drain's planning steps.

``{"action": "round"}`` (state PlanRound) sets the next round's concurrency from both queues'
depths and the last round's feedback, and gives each worker its stagger delay, batch size,
deadline, latest object start and PriorityQueue poll. ``{"action": "batch"}`` (state PlanBatch,
in each worker) orders a received batch by priority, marks each message's last receive, and says
whether the worker goes on after it (round deadline, downstream pushback).
"""

from __future__ import annotations

import os
import time
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from batch_planner import StaggerSettings, plan_batch, plan_workers, receive_size
from scaler import Feedback, Pace, ScalerSettings, next_pace, pushback
from sluice_common.errors import MalformedEvent
from sluice_common.observability import dt_metrics, logger, tracer

QUEUE_EMPTY = "queue empty"
ROUND_OVER = "round over"


@cache
def _max_receive_count() -> int:
    # The queues' RedrivePolicy maxReceiveCount (template parameter MaxReceiveCount).
    return int(os.environ.get("MAX_RECEIVE_COUNT", "5"))


@cache
def _settings() -> tuple[StaggerSettings, ScalerSettings, float]:
    env = os.environ
    batch_size = int(env.get("RECEIVE_BATCH_SIZE", "10"))
    return (
        StaggerSettings(
            stagger_seconds=float(env.get("STAGGER_SECONDS", "1")),
            max_stagger_seconds=int(env.get("MAX_STAGGER_SECONDS", "30")),
            batch_size=batch_size,
        ),
        ScalerSettings(
            min_concurrency=int(env.get("MIN_CONCURRENCY", "1")),
            max_concurrency=int(env.get("MAX_CONCURRENCY", "5")),
            batch_size=batch_size,
            cooldown_s=float(env.get("SCALE_COOLDOWN_SECONDS", "30")),
        ),
        float(env.get("PROCESS_FUNCTION_TIMEOUT_SECONDS", "120")),
    )


def plan_round(event: dict[str, Any], now: float) -> dict[str, Any]:
    stagger, scaling, function_timeout_s = _settings()
    object_depth = int(event.get("queueDepth") or 0)
    priority_depth = int(event.get("priorityDepth") or 0)
    queue_depth = object_depth + priority_depth  # the round's work is in both queues
    handed_over = (event.get("input") or {}).get("pace")
    previous = Pace.from_dict(event.get("pace") or handed_over, scaling, now)
    workers = event.get("results") or []
    workers = workers if isinstance(workers, list) else []
    feedback = Feedback.from_workers(workers)
    pace = next_pace(previous, feedback, queue_depth, now, scaling)
    # Every worker of the last round found both queues empty, and neither queue shows a
    # message now (a worker's short poll of the PriorityQueue can miss a few; this cannot).
    drained = (
        bool(workers)
        and object_depth == 0
        and priority_depth == 0
        and all(isinstance(w, dict) and w.get("stopped") == QUEUE_EMPTY for w in workers)
    )
    receive = receive_size(
        stagger, queue_depth, pace.concurrency, pace.seconds_per_object, function_timeout_s
    )
    deadline = float(event.get("deadline") or now)
    start_by = event.get("objectStartBy")
    if pace.seconds_per_object is None:
        # A probe round: one object per worker, then the next round sizes batches by its pace.
        deadline = min(deadline, now)
    logger.info(
        "round planned",
        extra={
            "queue_depth": object_depth,
            "priority_depth": priority_depth,
            "concurrency": pace.concurrency,
            "ceiling": pace.ceiling,
            "receive": receive,
            "drained": drained,
            "pace_reason": pace.reason,
            **dt_metrics(concurrency=pace.concurrency, queue_depth=object_depth),
        },
    )
    return {
        "workers": plan_workers(
            stagger,
            queue_depth,
            pace.concurrency,
            receive,
            deadline,
            pace.baseline_ms_per_row,
            object_start_by=float(start_by) if start_by is not None else None,
            priority_depth=priority_depth,
        ),
        "concurrency": pace.concurrency,
        "pace": pace.to_dict(),
        "drained": drained,
    }


def plan_worker_batch(event: dict[str, Any], now: float) -> dict[str, Any]:
    worker = event.get("worker") or {}
    results = (event.get("feedback") or {}).get("results") or []
    last = Feedback.from_results(results if isinstance(results, list) else [results])
    totals = Feedback.from_dict(event.get("totals")) + last
    baseline = worker.get("baselineMsPerRow")
    stopped = pushback(last, float(baseline) if baseline is not None else None)
    if stopped is None and now >= float(worker.get("deadline") or 0):
        stopped = ROUND_OVER
    messages = event.get("messages") or []
    items = plan_batch(
        messages if isinstance(messages, list) else [],
        str(event.get("queueUrl") or ""),
        _max_receive_count(),
    )
    logger.info(
        "batch planned",
        extra={
            "worker": worker.get("worker"),
            "messages": len(items),
            "rejected": sum(1 for item in items if "error" in item),
            "stopping": stopped,
        },
    )
    return {
        "items": items,
        "keepGoing": stopped is None,
        "stopped": stopped or "",
        "totals": totals.to_dict(),
    }


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    action = event.get("action")
    if action == "round":
        return plan_round(event, time.time())
    if action == "batch":
        return plan_worker_batch(event, time.time())
    raise MalformedEvent(f"action must be 'round' or 'batch', got {action!r}")
