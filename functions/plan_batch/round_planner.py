"""The drain's two planning steps, from the state's input to the answer the state machine reads.

``plan_round`` (state PlanRound) sets the next round's concurrency from both queues' depths and
the last round's feedback (scaler), and gives each worker its plan (batch_planner);
``plan_worker_batch`` (state PlanBatch, in each worker) orders a received batch and says whether
the worker goes on after it.
"""

from __future__ import annotations

from typing import Any

from batch_planner import plan_batch, plan_workers, receive_size
from plan_batch_settings import PlanBatchSettings
from scaler import Feedback, Pace, next_pace, pushback
from sluice_common.observability import dt_metrics, logger

QUEUE_EMPTY = "queue empty"
ROUND_OVER = "round over"


def plan_round(event: dict[str, Any], now: float, config: PlanBatchSettings) -> dict[str, Any]:
    """State PlanRound: the next round's concurrency and each worker's plan."""
    object_depth = int(event.get("queueDepth") or 0)
    priority_depth = int(event.get("priorityDepth") or 0)
    queue_depth = object_depth + priority_depth  # the round's work is in both queues
    handed_over = (event.get("input") or {}).get("pace")
    previous = Pace.from_dict(event.get("pace") or handed_over, config, now)
    workers = event.get("results") or []
    workers = workers if isinstance(workers, list) else []
    feedback = Feedback.from_workers(workers)
    pace = next_pace(previous, feedback, queue_depth, now, config)
    # Every worker of the last round found both queues empty, and neither queue shows a
    # message now (a worker's short poll of the PriorityQueue can miss a few; this cannot).
    drained = (
        bool(workers)
        and object_depth == 0
        and priority_depth == 0
        and all(isinstance(w, dict) and w.get("stopped") == QUEUE_EMPTY for w in workers)
    )
    receive = receive_size(
        config,
        queue_depth,
        pace.concurrency,
        pace.seconds_per_object,
        config.process_function_timeout_s,
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
            config,
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


def plan_worker_batch(
    event: dict[str, Any], now: float, config: PlanBatchSettings
) -> dict[str, Any]:
    """State PlanBatch: a received batch in order, and whether the worker goes on after it."""
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
        config.max_receive_count,
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
