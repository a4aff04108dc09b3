"""PlanBatch handler: the drain state machine's planning step for one received batch."""

from __future__ import annotations

import os
import time
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from batch_planner import StaggerSettings, plan_batch
from scaler import Feedback, Pace, ScalerSettings, next_pace
from sluice_common.observability import dt_metrics, logger, tracer


@cache
def _settings() -> tuple[StaggerSettings, ScalerSettings]:
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
    )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    stagger, scaling = _settings()
    messages = event.get("messages") or []
    queue_depth = int(event.get("queueDepth") or 0)
    now = time.time()
    handed_over = (event.get("input") or {}).get("pace")
    previous = Pace.from_dict(event.get("pace") or handed_over, scaling, now)
    results = (event.get("feedback") or {}).get("results") or []
    feedback = Feedback.from_results(results if isinstance(results, list) else [results])
    pace = next_pace(previous, feedback, queue_depth, now, scaling)
    items = plan_batch(messages, queue_depth, stagger, str(event.get("queueUrl") or ""))
    rejected = sum(1 for item in items if "error" in item)
    logger.info(
        "batch planned",
        extra={
            "messages": len(items),
            "rejected": rejected,
            "queue_depth": queue_depth,
            "concurrency": pace.concurrency,
            "ceiling": pace.ceiling,
            "pace_reason": pace.reason,
            **dt_metrics(concurrency=pace.concurrency, queue_depth=queue_depth),
        },
    )
    return {"items": items, "concurrency": pace.concurrency, "pace": pace.to_dict()}
