"""PlanBatch handler: the drain's planning steps.

``{"action": "round"}`` (state PlanRound) sets the next round's concurrency from both queues'
depths and the last round's feedback, and gives each worker its stagger delay, batch size,
deadline, latest object start and PriorityQueue poll. ``{"action": "batch"}`` (state PlanBatch,
in each worker) orders a received batch by priority, marks each message's last receive, and says
whether the worker goes on after it (round deadline, downstream pushback). The steps are in
round_planner, the settings in PlanBatchSettings.
"""

from __future__ import annotations

import time
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from plan_batch_settings import PlanBatchSettings
from round_planner import plan_round, plan_worker_batch
from sluice_common.errors import MalformedEvent
from sluice_common.observability import logger, tracer
from sluice_common.settings import load


# Read once per container.
@cache
def settings() -> PlanBatchSettings:
    return load(PlanBatchSettings)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    action = event.get("action")
    if action == "round":
        return plan_round(event, time.time(), settings())
    if action == "batch":
        return plan_worker_batch(event, time.time(), settings())
    raise MalformedEvent(f"action must be 'round' or 'batch', got {action!r}")
