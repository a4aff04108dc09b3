"""SplunkForwarder's wiring: its settings as HEC settings, the token from Secrets Manager, and
what a forward reports (metrics, log fields). The per-container caches stay in app.py, so that
each cold start (a new handler module) reads them anew."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from hec import (
    CREDENTIAL,
    DeliveryFailed,
    ForwardSummary,
    HecSettings,
    InvalidSetting,
    TokenUnavailable,
    hec_endpoint,
    token_from_secret,
)
from sluice_common.observability import dt_metrics, logger, metrics
from sluice_common.secrets import read_secret
from sluice_common.settings import load
from splunk_forwarder_settings import SplunkForwarderSettings

# What a forward reports, each metric named once: EMF metric, Dynatrace log metric, summary field.
_COUNTS = (
    ("LogEventsForwarded", "log_events_forwarded", "events_forwarded"),
    ("HecBatchesSent", "hec_batches_sent", "batches_sent"),
    ("HecRetries", "hec_retries", "retries"),
)


@dataclass(frozen=True)
class ForwarderConfig:
    hec_url: str  # the full event endpoint
    hec: HecSettings


def forwarder_config(env: Mapping[str, str] | None = None) -> ForwarderConfig:
    """The checked settings (default: os.environ); :class:`InvalidSetting` names what to fix."""
    found = load(SplunkForwarderSettings, env, error=InvalidSetting)  # its own error, as before
    if not found.hec_url:
        raise InvalidSetting("SPLUNK_HEC_URL is not set: give the Splunk HEC URL (https)")
    if not found.token_secret:
        raise InvalidSetting(
            "SPLUNK_HEC_TOKEN_SECRET_ARN is not set: name the secret holding the HEC token"
        )
    # The settings name each HecSettings field alike (a missing one fails every test).
    hec = HecSettings(**{field.name: getattr(found, field.name) for field in fields(HecSettings)})
    return ForwarderConfig(hec_url=hec_endpoint(found.hec_url), hec=hec)


def read_token(arn: str, *, force_fetch: bool = False) -> str:
    """The HEC token in secret ``arn`` (cached per container by sluice_common.secrets)."""
    secret = read_secret(
        arn, what=CREDENTIAL, unavailable=TokenUnavailable, force_fetch=force_fetch
    )
    return token_from_secret(secret, arn)


def add_metrics(summary: ForwardSummary) -> None:
    for name, _, field in _COUNTS:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=getattr(summary, field))


def log_fields(summary: ForwardSummary) -> dict[str, Any]:
    counts = {key: getattr(summary, field) for _, key, field in _COUNTS}
    return {
        "log_events": summary.log_events,
        "blank_skipped": summary.blank_skipped,
        "bytes_sent": summary.bytes_sent,
        **dt_metrics(**counts, duration_ms=summary.duration_ms),
    }


def report_failure(exc: DeliveryFailed) -> None:
    """Metrics and the error log line for a delivery that failed (the handler then raises)."""
    if exc.progress is not None:
        add_metrics(exc.progress)
    metrics.add_metric(name="HecDeliveryFailures", unit=MetricUnit.Count, value=1)
    logger.error(
        "logs not forwarded to splunk",
        extra={
            "error": type(exc).__name__,
            "reason": str(exc),
            **(log_fields(exc.progress) if exc.progress else {}),
        },
    )
