"""ProcessObject handler: parse the event, process the object, shape the summary.

The drain passes ``start_by`` (epoch seconds, the end of its round for starting work): the
invocation starts attempts until then, each only if its worst case fits Lambda's deadline, and
returns ``"unfinished": true`` with its checkpoint saved when the object is not done (see
object_processor). An invocation with no time
for even one request returns at once, before touching S3 or the downstream, marked
``"postponed": true`` (all counts 0), and the drain puts the message back. An unfinished summary
is marked postponed too, which is what a drain from before resumable processing understands.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from checkpoint import CheckpointStore, LegacyRecords
from csv_rows import CsvLimits
from downstream import (
    Downstream,
    HttpDownstream,
    PacedDownstream,
    RetryPolicy,
    SimulatedDownstream,
    downstream_url,
)
from key_prefix import KeyPrefix
from object_processor import (
    STOP_MARGIN_SECONDS,
    Budget,
    CheckpointPolicy,
    ObjectSummary,
    process_object,
)
from sluice_common.errors import SluiceError
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
    checkpoint_table: str
    idempotency_days: int
    checkpoints: CheckpointPolicy
    legacy_idempotency_table: str
    csv_limits: CsvLimits
    key_prefix: KeyPrefix

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            downstream_url=downstream_url(env.get("DOWNSTREAM_API_URL", "")),
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
            checkpoint_table=env.get("CHECKPOINT_TABLE", ""),
            idempotency_days=int(env.get("IDEMPOTENCY_DAYS", "30")),
            checkpoints=CheckpointPolicy(
                rows=int(env.get("CHECKPOINT_ROWS", "1")),
                seconds=float(env.get("CHECKPOINT_SECONDS", "10")),
                no_progress_limit=int(env.get("NO_PROGRESS_LIMIT", "5")),
            ),
            legacy_idempotency_table=env.get("LEGACY_IDEMPOTENCY_TABLE", ""),
            # Hostile-input caps (template: CsvMaxColumns, CsvMaxRecordBytes, GzipMaxRatio,
            # GzipMaxBytes); the defaults here equal the template's.
            csv_limits=CsvLimits(
                max_columns=int(env.get("CSV_MAX_COLUMNS", "16384")),
                max_record_bytes=int(env.get("CSV_MAX_RECORD_BYTES", "4194304")),
                gzip_max_ratio=int(env.get("GZIP_MAX_RATIO", "100")),
                gzip_max_bytes=int(env.get("GZIP_MAX_BYTES", "10737418240")),
            ),
            # ObjectKeyPrefix: what the role may read (empty: the whole bucket).
            key_prefix=KeyPrefix(env.get("OBJECT_KEY_PREFIX", "")),
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
def dynamodb_client() -> Any:
    import boto3

    return boto3.client("dynamodb")


def checkpoint_store(context: LambdaContext) -> CheckpointStore | None:
    config = settings()
    if not config.checkpoint_table:
        return None
    return CheckpointStore(
        dynamodb_client(),
        config.checkpoint_table,
        ttl_days=config.idempotency_days,
        owner=context.aws_request_id,
    )


@cache
def legacy_records() -> LegacyRecords | None:
    """The IdempotencyTable of a stack upgraded from per-row records (IdempotencyTableUpgrade)."""
    table = settings().legacy_idempotency_table
    return LegacyRecords(dynamodb_client(), table) if table else None


def auth_token() -> str | None:
    arn = settings().auth_secret_arn
    if not arn:
        return None
    from aws_lambda_powertools.utilities import parameters

    return str(parameters.get_secret(arn, max_age=300))


def _epoch(event: Any, name: str) -> float | None:
    """An epoch-seconds field of the event; None when not given or unreadable."""
    value = event.get(name) if isinstance(event, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def budget_for(event: Any, context: LambdaContext, request_s: float) -> Budget | None:
    """This invocation's budget, or None when it is too late to start at all.

    Lambda's deadline bounds every attempt's worst case; the drain's ``start_by`` (its round's
    end for starting work) bounds when attempts may start, so a round waits on at most one
    request per worker. A drain from before resumable processing passes the same field: it
    reads an unfinished object as postponed and puts the message back.
    """
    now = time.time()
    deadline = now + context.get_remaining_time_in_millis() / 1000
    start_by = _epoch(event, "start_by")
    budget = Budget(
        stop_at=deadline - STOP_MARGIN_SECONDS,
        request_s=request_s,
        lease_until=deadline,
        start_until=float("inf") if start_by is None else start_by,
    )
    return budget if budget.fits(0) else None


def postponed(ref: ObjectRef, event: Any) -> dict[str, Any]:
    """Too late to start: a normal response (a function error would count in the Errors alarm)
    with nothing read or sent."""
    metrics.add_metric(name="ObjectsPostponed", unit=MetricUnit.Count, value=1)
    logger.info(
        "object not started: the drain's round has no time left for one request",
        extra={"start_by": _epoch(event, "start_by")},
    )
    summary = ObjectSummary(bucket=ref.bucket, key=ref.key, version_id=ref.version_id)
    return {**summary.to_dict(), "postponed": True}


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
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
        api = downstream()
        budget = budget_for(event, context, api.request_timeout_s)
        if budget is None:
            return postponed(ref, event)
        summary = process_object(
            s3_client(),
            api,
            ref,
            settings().policy,
            store=checkpoint_store(context),
            budget=budget,
            checkpoints=settings().checkpoints,
            legacy=legacy_records(),
            correlation_id=correlation.get("message_id") or context.aws_request_id,
            auth_token=auth_token(),
            limits=settings().csv_limits,
            key_prefix=settings().key_prefix,
        )
    except SluiceError as exc:
        metrics.add_metric(name="ObjectsFailed", unit=MetricUnit.Count, value=1)
        logger.warning(
            "object not processed", extra={"error": type(exc).__name__, "reason": str(exc)}
        )
        raise
    metrics.add_metric(
        name="ObjectsContinued" if summary.unfinished else "ObjectsProcessed",
        unit=MetricUnit.Count,
        value=1,
    )
    metrics.add_metric(name="RowsSent", unit=MetricUnit.Count, value=summary.rows_sent)
    if not summary.unfinished:
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
        "object unfinished: it carries on from its checkpoint"
        if summary.unfinished
        else "object processed",
        extra={
            "next_row": summary.next_row,
            "pass": summary.pass_number,
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
    # An unfinished object is also "postponed": a drain from before resumable processing reads
    # that as "put the message back", and the object carries on from its checkpoint.
    return {**summary.to_dict(), "postponed": summary.unfinished}
