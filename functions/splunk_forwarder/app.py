"""SplunkForwarder handler: CloudWatch Logs subscription payloads in, Splunk HEC events out.

Invoked asynchronously by subscription filters. When delivery finally fails the handler raises:
Lambda retries the invocation, then sends the original event to the OnFailure dead-letter queue.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import urllib3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from hec import (
    CONTROL_MESSAGE,
    DeliveryFailed,
    ForwardSummary,
    HecSettings,
    InvalidSetting,
    TokenUnavailable,
    decode_logs,
    forward,
    hec_endpoint,
    token_from_secret,
)
from sluice_common.observability import dt_metrics, logger, metrics, tracer

SECRET_MAX_AGE_S = 300  # a rotated token is picked up within five minutes


def _number(env: Mapping[str, str], name: str, default: str, kind: type[int] | type[float]) -> Any:
    raw = env.get(name) or default
    try:
        value = kind(raw)
    except ValueError:
        raise InvalidSetting(f"{name}={raw!r} is not a number (default {default})") from None
    if value <= 0:
        raise InvalidSetting(f"{name}={raw!r} must be greater than 0 (default {default})")
    return value


@dataclass(frozen=True)
class Settings:
    hec_url: str  # the full event endpoint
    token_secret_arn: str
    hec: HecSettings

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        if not env.get("SPLUNK_HEC_URL"):
            raise InvalidSetting("SPLUNK_HEC_URL is not set: give the Splunk HEC URL (https)")
        arn = env.get("SPLUNK_HEC_TOKEN_SECRET_ARN", "")
        if not arn:
            raise InvalidSetting(
                "SPLUNK_HEC_TOKEN_SECRET_ARN is not set: name the secret holding the HEC token"
            )
        return cls(
            hec_url=hec_endpoint(env["SPLUNK_HEC_URL"]),
            token_secret_arn=arn,
            hec=HecSettings(
                token_secret=arn,
                index=env.get("SPLUNK_INDEX", "").strip(),
                source=env.get("SPLUNK_SOURCE", "").strip(),
                sourcetype=env.get("SPLUNK_SOURCETYPE", "").strip() or "aws:cloudwatchlogs",
                max_batch_bytes=_number(env, "SPLUNK_MAX_BATCH_BYTES", "262144", int),
                max_attempts=_number(env, "SPLUNK_MAX_ATTEMPTS", "5", int),
                timeout_s=_number(env, "SPLUNK_TIMEOUT_SECONDS", "10", float),
                backoff_base_s=_number(env, "SPLUNK_BACKOFF_BASE_SECONDS", "0.5", float),
                backoff_cap_s=_number(env, "SPLUNK_BACKOFF_MAX_SECONDS", "8", float),
            ),
        )


# One of each per container: settings and the HTTP keep-alive pool are reused across invocations.
@cache
def settings() -> Settings:
    return Settings.from_env(os.environ)


@cache
def http() -> urllib3.PoolManager:
    return urllib3.PoolManager(maxsize=2, retries=False)


def hec_token(force_fetch: bool = False) -> str:
    """The token from Secrets Manager, cached by Powertools for SECRET_MAX_AGE_S."""
    from aws_lambda_powertools.utilities import parameters

    arn = settings().token_secret_arn
    try:
        secret = parameters.get_secret(arn, max_age=SECRET_MAX_AGE_S, force_fetch=force_fetch)
    except parameters.GetParameterError as exc:
        raise TokenUnavailable(
            f"cannot read the Splunk HEC token from secret {arn}: {exc}. The function's role "
            "needs secretsmanager:GetSecretValue on it (and kms:Decrypt on its key)"
        ) from None
    return token_from_secret(secret, arn)


def _add_metrics(summary: ForwardSummary) -> None:
    metrics.add_metric(
        name="LogEventsForwarded", unit=MetricUnit.Count, value=summary.events_forwarded
    )
    metrics.add_metric(name="HecBatchesSent", unit=MetricUnit.Count, value=summary.batches_sent)
    metrics.add_metric(name="HecRetries", unit=MetricUnit.Count, value=summary.retries)


def _log_fields(summary: ForwardSummary) -> dict[str, Any]:
    return {
        "log_events": summary.log_events,
        "blank_skipped": summary.blank_skipped,
        "bytes_sent": summary.bytes_sent,
        **dt_metrics(
            log_events_forwarded=summary.events_forwarded,
            hec_batches_sent=summary.batches_sent,
            hec_retries=summary.retries,
            duration_ms=summary.duration_ms,
        ),
    }


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logs = decode_logs(event)  # MalformedLogsPayload: retried, then dead-lettered as is
    data = logs.parse_logs_data()
    # Thread-safe keys: the local runtime runs several invocations in one process.
    logger.thread_safe_clear_keys()
    logger.thread_safe_append_keys(
        log_group=data.get("logGroup"),
        log_stream=data.get("logStream"),
        message_type=data.message_type,
    )
    if data.message_type == CONTROL_MESSAGE:
        _add_metrics(ForwardSummary(CONTROL_MESSAGE, "", ""))
        logger.info("control message acknowledged", extra={"payload": data.raw_event})
        return {"message_type": CONTROL_MESSAGE, "events_forwarded": 0}
    config = settings()
    try:
        summary = forward(
            logs,
            pool=http(),
            url=config.hec_url,
            token=hec_token(),
            settings=config.hec,
            remaining_s=lambda: context.get_remaining_time_in_millis() / 1000,
        )
    except DeliveryFailed as exc:
        if exc.progress is not None:
            _add_metrics(exc.progress)
        metrics.add_metric(name="HecDeliveryFailures", unit=MetricUnit.Count, value=1)
        if exc.token_refused:
            hec_token(force_fetch=True)  # Lambda's retry then uses a rotated token at once
        logger.error(
            "logs not forwarded to splunk",
            extra={
                "error": type(exc).__name__,
                "reason": str(exc),
                **(_log_fields(exc.progress) if exc.progress else {}),
            },
        )
        raise
    _add_metrics(summary)
    logger.info("logs forwarded to splunk", extra=_log_fields(summary))
    return summary.to_dict()
