"""ExecutionAlert handler: the drain log group's subscription filter delivers log events here;
each execution that failed, timed out or was aborted becomes one alert on the alarm topic."""

from __future__ import annotations

import zlib
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import CloudWatchLogsEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from execution_alert_settings import ExecutionAlertSettings
from execution_alerts import LogEvent, publish_alerts
from sluice_common.errors import MalformedEvent
from sluice_common.observability import logger, metrics, tracer
from sluice_common.settings import load


# One of each per container: the settings and the SNS client are reused across invocations.
@cache
def settings() -> ExecutionAlertSettings:
    return load(ExecutionAlertSettings)  # SettingsError names ALERT_TOPIC_ARN when it is unset


@cache
def sns_client() -> Any:
    import boto3

    return boto3.client("sns")


def log_events(event: dict[str, Any]) -> list[LogEvent] | None:
    """The log events in a subscription delivery; None for CloudWatch's control message."""
    try:
        data = CloudWatchLogsEvent(event).parse_logs_data()
        if data.message_type == "CONTROL_MESSAGE":  # sent once, when the filter is created
            return None
        return [
            LogEvent(
                message=item.message,
                timestamp_ms=item.timestamp if isinstance(item.timestamp, int) else None,
            )
            for item in data.log_events
        ]
    except (KeyError, TypeError, ValueError, zlib.error) as exc:
        # ValueError covers bad base64 (binascii.Error), bad UTF-8 and bad JSON.
        raise MalformedEvent(
            f"not a CloudWatch Logs subscription event (awslogs.data must be base64 of gzipped "
            f"JSON with logEvents): {type(exc).__name__}: {exc}"
        ) from None


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    events = log_events(event)
    if events is None:
        logger.info("subscription control message: nothing to do")
        return {"published": 0, "ignored": {}, "unparseable": 0}
    outcome = publish_alerts(sns_client(), settings().topic_arn, events)
    for problem in outcome.unparseable:
        logger.warning("log event is not a Step Functions history event", extra=problem)
    metrics.add_metric(
        name="ExecutionAlertsPublished", unit=MetricUnit.Count, value=outcome.published
    )
    logger.info("drain log events read", extra={"log_events": len(events), **outcome.to_dict()})
    return outcome.to_dict()
