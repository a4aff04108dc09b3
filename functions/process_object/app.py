"""ProcessObject handler: parse the event, process the object, shape the summary.

The drain passes ``start_by`` (epoch seconds, the drain lease's latest object start): an
invocation that begins later returns at once, before touching S3 or the downstream, with a normal
summary marked ``"postponed": true`` (all counts 0), and the drain puts the message back, so a
round cannot run past the Express limit. Every summary carries ``postponed``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from csv_rows import CsvLimits
from downstream import (
    Downstream,
    HttpDownstream,
    PacedDownstream,
    RetryPolicy,
    SimulatedDownstream,
)
from object_processor import ObjectSummary, Once, RowBusy, process_object
from sluice_common.errors import ObjectBusy, SluiceError, TransientError
from sluice_common.events import ObjectRef, parse_object_ref
from sluice_common.observability import bind_correlation, dt_metrics, logger, metrics, tracer


@dataclass(frozen=True)
class Settings:
    downstream_url: str
    timeout_s: float
    policy: RetryPolicy
    simulated_latency_ms: float
    simulated_failure_rate: float
    auth_secret_arn: str
    rate_limit_per_second: float  # for the whole downstream; 0 = none
    max_concurrency: int
    idempotency_table: str
    idempotency_days: int
    csv_limits: CsvLimits

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            downstream_url=env.get("DOWNSTREAM_API_URL", ""),
            timeout_s=float(env.get("DOWNSTREAM_TIMEOUT_SECONDS", "5")),
            policy=RetryPolicy(
                max_attempts=int(env.get("DOWNSTREAM_MAX_ATTEMPTS", "5")),
                base_s=float(env.get("DOWNSTREAM_BACKOFF_BASE_SECONDS", "0.2")),
                cap_s=float(env.get("DOWNSTREAM_BACKOFF_MAX_SECONDS", "10")),
            ),
            simulated_latency_ms=float(env.get("SIMULATED_LATENCY_MS", "50")),
            simulated_failure_rate=float(env.get("SIMULATED_FAILURE_RATE", "0")),
            auth_secret_arn=env.get("DOWNSTREAM_AUTH_SECRET_ARN", ""),
            rate_limit_per_second=float(env.get("DOWNSTREAM_RATE_LIMIT_PER_SECOND", "0")),
            max_concurrency=int(env.get("MAX_CONCURRENCY", "1")),
            idempotency_table=env.get("IDEMPOTENCY_TABLE", ""),
            idempotency_days=int(env.get("IDEMPOTENCY_DAYS", "30")),
            # Hostile-input caps (template: CsvMaxColumns, CsvMaxRecordBytes, GzipMaxRatio,
            # GzipMaxBytes); the defaults here equal the template's.
            csv_limits=CsvLimits(
                max_columns=int(env.get("CSV_MAX_COLUMNS", "16384")),
                max_record_bytes=int(env.get("CSV_MAX_RECORD_BYTES", "4194304")),
                gzip_max_ratio=int(env.get("GZIP_MAX_RATIO", "100")),
                gzip_max_bytes=int(env.get("GZIP_MAX_BYTES", "10737418240")),
            ),
        )


# One of each per container: settings, S3 client and HTTP pool are reused across invocations.
@cache
def settings() -> Settings:
    return Settings.from_env()


@cache
def s3_client() -> Any:
    import boto3

    return boto3.client("s3")


@cache
def downstream() -> Downstream:
    config = settings()
    api: Downstream = (
        HttpDownstream(config.downstream_url, config.timeout_s)
        if config.downstream_url
        else SimulatedDownstream(config.simulated_latency_ms, config.simulated_failure_rate)
    )
    if config.rate_limit_per_second > 0:
        # This instance's share: at most max_concurrency instances run at once.
        return PacedDownstream(api, config.rate_limit_per_second / config.max_concurrency)
    return api


@cache
def _persistence() -> Any:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    return DynamoDBPersistenceLayer(table_name=settings().idempotency_table)


def row_once(context: LambdaContext) -> Once | None:
    """Each row delivered at most once across invocations: Powertools Idempotency keyed on the
    row's idempotency key (bucket, key, revision, row), records in IdempotencyTable. A record
    left IN_PROGRESS by a crashed invocation expires with that invocation's timeout."""
    config = settings()
    if not config.idempotency_table:
        return None
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyPersistenceLayerError,
    )

    idempotency = IdempotencyConfig(
        event_key_jmespath="key",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=config.idempotency_days * 86400,
    )
    idempotency.register_lambda_context(context)

    @idempotent_function(
        data_keyword_argument="row",
        persistence_store=_persistence(),
        config=idempotency,
        key_prefix="sluice-row",
    )
    def deliver_row(row: dict[str, str], deliver: Any) -> dict[str, Any]:
        return dict(deliver())

    def once(key: str, deliver: Any) -> dict[str, Any]:
        try:
            return deliver_row(row={"key": key}, deliver=deliver)
        except IdempotencyAlreadyInProgressError:
            raise RowBusy(key) from None
        except IdempotencyPersistenceLayerError as exc:
            raise TransientError(f"idempotency table unavailable: {exc}") from None

    return once


def auth_token() -> str | None:
    arn = settings().auth_secret_arn
    if not arn:
        return None
    from aws_lambda_powertools.utilities import parameters

    return str(parameters.get_secret(arn, max_age=300))


def start_by(event: Any) -> float | None:
    """The latest time this object may start (epoch seconds); None when not given or unreadable
    (a direct invocation, an older drain)."""
    value = event.get("start_by") if isinstance(event, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def postponed(ref: ObjectRef, latest: float) -> dict[str, Any]:
    """Too late to start: a normal response (a function error would count in the Errors alarm)
    with nothing read or sent."""
    metrics.add_metric(name="ObjectsPostponed", unit=MetricUnit.Count, value=1)
    logger.info(
        "object not started: the drain's round is over",
        extra={"start_by": latest, "late_by_s": round(time.time() - latest, 3)},
    )
    summary = ObjectSummary(bucket=ref.bucket, key=ref.key, version_id=ref.version_id)
    return {**summary.to_dict(), "postponed": True}


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    correlation = event.get("correlation") if isinstance(event, dict) else None
    correlation = correlation if isinstance(correlation, dict) else {}
    try:
        ref = parse_object_ref(event)
        bind_correlation(
            bucket=ref.bucket,
            key=ref.key,
            message_id=correlation.get("message_id"),
            execution=correlation.get("execution"),
        )
        latest = start_by(event)
        if latest is not None and time.time() > latest:
            return postponed(ref, latest)
        summary = process_object(
            s3_client(),
            downstream(),
            ref,
            settings().policy,
            correlation_id=correlation.get("message_id") or context.aws_request_id,
            auth_token=auth_token(),
            once=row_once(context),
            limits=settings().csv_limits,
        )
    except RowBusy as busy:
        metrics.add_metric(name="ObjectsPostponed", unit=MetricUnit.Count, value=1)
        raise ObjectBusy(
            f"row {busy} is being delivered by another invocation (or one that stopped mid-row): "
            "the message is postponed until that invocation's timeout has passed"
        ) from None
    except SluiceError as exc:
        metrics.add_metric(name="ObjectsFailed", unit=MetricUnit.Count, value=1)
        logger.warning(
            "object not processed", extra={"error": type(exc).__name__, "reason": str(exc)}
        )
        raise
    metrics.add_metric(name="ObjectsProcessed", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="RowsSent", unit=MetricUnit.Count, value=summary.rows_sent)
    metrics.add_metric(name="RowsFailed", unit=MetricUnit.Count, value=summary.rows_failed)
    metrics.add_metric(name="DownstreamRetries", unit=MetricUnit.Count, value=summary.retries)
    metrics.add_metric(
        name="ObjectProcessingDuration", unit=MetricUnit.Milliseconds, value=summary.duration_ms
    )
    if summary.requests:
        # Mean over this object's requests; an object whose rows were all delivered before
        # (idempotency) made none and reports none.
        metrics.add_metric(
            name="DownstreamLatency",
            unit=MetricUnit.Milliseconds,
            value=summary.downstream_ms / summary.requests,
        )
    logger.info(
        "object processed",
        extra={
            "rows_read": summary.rows_read,
            "rows_failed": summary.rows_failed,
            **dt_metrics(
                rows_sent=summary.rows_sent,
                rows_failed=summary.rows_failed,
                retries=summary.retries,
                duration_ms=summary.duration_ms,
                downstream_ms=summary.downstream_ms,
            ),
        },
    )
    return {**summary.to_dict(), "postponed": False}
