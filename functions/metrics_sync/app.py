"""MetricsSync handler: on a schedule, copy the pipeline's CloudWatch metrics to Dynatrace.

Each run syncs the whole minutes [t - delay - period, t - delay), t being the scheduled event's
``time`` (so a retried invocation syncs the same window again, not a later one) or now. What is
synced is the layer's metric catalogue (sluice_common.metric_catalogue).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from dynatrace_errors import DynatraceError
from dynatrace_fetch import Window
from dynatrace_ingest import Ingest
from dynatrace_sync import SyncReport, sync
from metrics_sync_wiring import api_token, cloudwatch_client, http_pool, load_config, scheduled_time
from sluice_common.observability import logger, metrics, tracer

# One of each per container: settings, CloudWatch client and HTTP pool are reused.
settings = cache(load_config)
cloudwatch = cache(cloudwatch_client)
pool = cache(http_pool)


def _report(report: SyncReport, window: Window) -> None:
    """The run's metrics, and a warning for each part that was not delivered."""
    metrics.add_metric(
        name="DynatraceLinesSent", unit=MetricUnit.Count, value=report.ingest.lines_ok
    )
    metrics.add_metric(
        name="DynatraceLinesInvalid", unit=MetricUnit.Count, value=report.ingest.lines_invalid
    )
    if report.ingest.lines_invalid:
        logger.warning(
            "Dynatrace rejected some metric lines",
            extra={
                "lines_invalid": report.ingest.lines_invalid,
                "invalid_lines": report.ingest.invalid[:20],
            },
        )
    if report.too_old:
        logger.warning(
            "data points older than Dynatrace accepts were not sent",
            extra={"too_old": report.too_old, "window": window.to_dict()},
        )
    if report.problems:
        logger.warning("CloudWatch could not answer some series", extra={"series": report.problems})
    if report.ingest.warnings:
        logger.warning("Dynatrace warnings", extra={"warnings": report.ingest.warnings})


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config = settings()
    window = Window.ending_before(
        scheduled_time(event) or datetime.now(UTC), config.period_s, config.delay_s
    )
    ingest = Ingest(
        url=config.ingest_url,
        token=api_token(config.token_secret_arn),
        token_source=f"secret {config.token_secret_arn}",
    )
    try:
        report = sync(cloudwatch(), pool(), config.resources, ingest, window, clock=time.time)
    except DynatraceError as exc:
        logger.error(
            "metrics not synced to Dynatrace",
            extra={"error": type(exc).__name__, "reason": str(exc), "window": window.to_dict()},
        )
        raise
    _report(report, window)
    summary = report.to_dict()
    logger.info("metrics synced to Dynatrace", extra=summary)
    return summary
