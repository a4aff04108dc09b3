"""MetricsSync handler: on a schedule, copy the pipeline's CloudWatch metrics to Dynatrace.

Each run syncs the whole minutes [t - delay - period, t - delay), t being the scheduled event's
``time`` (so a retried invocation syncs the same window again, not a later one) or now.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from dynatrace_metrics import (
    DynatraceConfigError,
    DynatraceError,
    Ingest,
    Resources,
    Window,
    check_timing,
    ingest_url,
    sync,
)
from sluice_common.observability import logger, metrics, tracer


def _names(value: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in value.split(",") if name.strip())


def _seconds(name: str, default: int) -> int:
    value = os.environ.get(name, "") or str(default)
    try:
        return int(value)
    except ValueError:
        raise DynatraceConfigError(f"{name}={value!r} is not a whole number of seconds") from None


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise DynatraceConfigError(f"environment variable {name} is not set")
    return value


@dataclass(frozen=True)
class Settings:
    ingest_url: str
    token_secret_arn: str
    resources: Resources
    period_s: int
    delay_s: int

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        settings = cls(
            ingest_url=ingest_url(env.get("DYNATRACE_API_URL", "")),
            token_secret_arn=_required("DYNATRACE_TOKEN_SECRET_ARN"),
            resources=Resources(
                stack=_required("STACK_NAME"),
                namespace=env.get("METRICS_NAMESPACE") or "Sluice",
                service=env.get("POWERTOOLS_SERVICE_NAME") or "sluice",
                queues=_names(
                    ",".join(
                        env.get(name, "")
                        for name in (
                            "OBJECT_QUEUE_NAME",
                            "PRIORITY_QUEUE_NAME",
                            "DEAD_LETTER_QUEUE_NAME",
                            "EXTRA_QUEUE_NAMES",  # the optional pipelines' queues, comma-separated
                        )
                    )
                ),
                functions=_names(env.get("FUNCTION_NAMES", "")),
                state_machine_arn=env.get("STATE_MACHINE_ARN", "").strip(),
            ),
            period_s=_seconds("SYNC_PERIOD_SECONDS", 300),
            delay_s=_seconds("SYNC_DELAY_SECONDS", 180),
        )
        check_timing(settings.period_s, settings.delay_s)
        return settings


# One of each per container: settings, CloudWatch client and HTTP pool are reused.
@cache
def settings() -> Settings:
    return Settings.from_env()


@cache
def cloudwatch() -> Any:
    import boto3

    return boto3.client("cloudwatch")


@cache
def pool() -> Any:
    import urllib3

    return urllib3.PoolManager(maxsize=2, retries=False)


def api_token(secret_arn: str) -> str:
    """The secret holds the token itself or ``{"token": "dt0c01...."}`` (cached 5 minutes)."""
    from aws_lambda_powertools.utilities import parameters

    try:
        value = str(parameters.get_secret(secret_arn, max_age=300)).strip()
    except Exception as exc:
        raise DynatraceConfigError(
            f"cannot read the Dynatrace API token from secret {secret_arn}: {exc}"
        ) from None
    if value.startswith("{"):
        try:
            value = str(json.loads(value).get("token") or "").strip()
        except (ValueError, AttributeError):
            value = ""
        if not value:
            raise DynatraceConfigError(
                f'secret {secret_arn} is JSON without a "token" field: store the token '
                'itself, or {"token": "<Dynatrace API token>"}'
            )
    if not value:
        raise DynatraceConfigError(f"secret {secret_arn} is empty: store the Dynatrace API token")
    return value


def scheduled_time(event: Any) -> datetime | None:
    """The ``time`` of an EventBridge scheduled event, if there is one."""
    value = event.get("time") if isinstance(event, dict) else None
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


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
    summary = report.to_dict()
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
    logger.info("metrics synced to Dynatrace", extra=summary)
    return summary
