"""The one place Powertools is configured for every function (imported, never re-created).

Service name and metrics namespace come from POWERTOOLS_* environment variables set in
template.yaml's Globals, read once through :mod:`sluice_common.settings` (defaults: the metric
catalogue's, for code run outside Lambda); the log level Powertools reads itself. Dynatrace reads
metrics from log lines: :func:`dt_metrics` gives the ``dt.metrics`` field for them.

Every metric name, its unit and every log-metric key is declared once, in
:mod:`sluice_common.metric_catalogue`: :data:`metrics` and :func:`dt_metrics` refuse any other,
so a metric the dashboards, alarms and the Dynatrace sync do not know cannot be emitted.

Every handler traces with ``tracer.capture_lambda_handler(capture_response=False,
capture_error=False)``: by default Tracer copies the return value (a payment, message bodies,
alert recipients) and the exception object into X-Ray metadata, which anyone with X-Ray read
access can see, with no grant on PaymentKey. X-Ray still gets timings, faults and an exception's
message (the Lambda runtime and the X-Ray SDK record it), so messages show no rejected value
unmasked (:func:`sluice_common.redact.mask_pans`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricResolution, MetricUnit

from sluice_common.metric_catalogue import (
    DYNATRACE_PREFIX,
    PIPELINE_NAMESPACE,
    PIPELINE_SERVICE,
    check_emitted,
    check_log_metrics,
)
from sluice_common.settings import load, setting


@dataclass(frozen=True)
class PowertoolsSettings:
    """What every function's Powertools objects are named by (template.yaml Globals)."""

    service: str = setting("POWERTOOLS_SERVICE_NAME", PIPELINE_SERVICE)
    namespace: str = setting("POWERTOOLS_METRICS_NAMESPACE", PIPELINE_NAMESPACE)


class CatalogueMetrics(Metrics):
    """Powertools Metrics that emit only what the metric catalogue declares, in its unit."""

    def add_metric(
        self,
        name: str,
        unit: MetricUnit | str,
        value: float,
        resolution: MetricResolution | int = 60,
    ) -> None:
        check_emitted(name, unit.value if isinstance(unit, Enum) else str(unit))
        super().add_metric(name=name, unit=unit, value=value, resolution=resolution)


powertools = load(PowertoolsSettings)
logger = Logger(service=powertools.service)
metrics = CatalogueMetrics(service=powertools.service, namespace=powertools.namespace)
tracer = Tracer(service=powertools.service)


def dt_metrics(**values: float | int) -> dict[str, Any]:
    """``extra=`` for a log line whose numbers Dynatrace log processing turns into metrics;
    refuses a key the metric catalogue's LOG_METRICS lacks."""
    check_log_metrics(values)
    return {"dt.metrics": {DYNATRACE_PREFIX + name: value for name, value in values.items()}}


def bind_correlation(
    *,
    bucket: str | None = None,
    key: str | None = None,
    message_id: str | None = None,
    execution: str | None = None,
) -> None:
    """Every later log line of this invocation carries these correlation ids.

    Thread-safe keys: one invocation per process in Lambda, but several at once in the local
    runtime, and a stale key must never label another object's log line.
    """
    values = {"s3_bucket": bucket, "s3_key": key, "message_id": message_id, "execution": execution}
    logger.thread_safe_clear_keys()
    logger.thread_safe_append_keys(**{k: v for k, v in values.items() if v})
