"""The one place Powertools is configured for every function (imported, never re-created).

Service name, metrics namespace and log level come from POWERTOOLS_* environment variables set
in template.yaml's Globals. Dynatrace reads metrics from log lines: :func:`dt_metrics` gives the
``dt.metrics`` field for them.

Every handler traces with ``tracer.capture_lambda_handler(capture_response=False,
capture_error=False)``: by default Tracer copies the return value (a payment, message bodies,
alert recipients) and the exception object into X-Ray metadata, which anyone with X-Ray read
access can see, with no grant on PaymentKey. X-Ray still gets timings, faults and an exception's
message (the Lambda runtime and the X-Ray SDK record it), so messages show no rejected value
unmasked (:func:`sluice_common.redact.mask_pans`).
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer

os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Sluice")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "sluice")

logger = Logger()
metrics = Metrics()
tracer = Tracer()


def dt_metrics(**values: float | int) -> dict[str, Any]:
    """``extra=`` for a log line whose numbers Dynatrace log processing turns into metrics."""
    return {"dt.metrics": {f"sluice.{name}": value for name, value in values.items()}}


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
