"""PlanBatch handler: the drain state machine's planning step for one received batch."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from batch_planner import StaggerSettings, plan_batch
from sluice_common.observability import logger, tracer


@cache
def _settings() -> StaggerSettings:
    return StaggerSettings(
        stagger_seconds=float(os.environ.get("STAGGER_SECONDS", "1")),
        max_stagger_seconds=int(os.environ.get("MAX_STAGGER_SECONDS", "30")),
        batch_size=int(os.environ.get("RECEIVE_BATCH_SIZE", "10")),
    )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    messages = event.get("messages") or []
    queue_depth = int(event.get("queueDepth") or 0)
    items = plan_batch(messages, queue_depth, _settings())
    rejected = sum(1 for item in items if "error" in item)
    logger.info(
        "batch planned",
        extra={"messages": len(items), "rejected": rejected, "queue_depth": queue_depth},
    )
    return {"items": items}
