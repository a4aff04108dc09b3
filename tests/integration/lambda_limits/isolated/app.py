"""Two functions share this code and the layer's one Logger and Metrics, as Sluice's do: each
invocation logs its context and emits one metric named by its function's METRIC_NAME."""

from __future__ import annotations

import os
import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from sluice_common.observability import logger, metrics


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # A test metric, not Sluice's: past the layer's catalogue check, into its one metric set.
    metrics.provider.add_metric(name=os.environ["METRIC_NAME"], unit=MetricUnit.Count, value=1)
    time.sleep(float(event.get("pause_s", 0.05)))  # others start and log meanwhile
    logger.info("isolated", extra={"n": event.get("n")})
    return {"n": event.get("n")}
