"""ProcessObject's environment, declared once: what template.yaml passes and what it may hold.

Each default equals its template parameter's Default (what the template passes when the
parameter is left alone); the bounds are the parameter's, except where noted.
"""

from __future__ import annotations

from dataclasses import dataclass

from sluice_common import shared_settings as shared
from sluice_common.settings import setting


@dataclass(frozen=True)
class ProcessObjectSettings:
    # Checked by downstream.downstream_url when the downstream is built (DownstreamMisconfigured,
    # the name the drain dead-letters a misconfigured function's objects under).
    downstream_api_url: str = setting("DOWNSTREAM_API_URL", "", parameter="DownstreamApiUrl")
    downstream_auth_secret_arn: str = setting(
        "DOWNSTREAM_AUTH_SECRET_ARN", "", parameter="DownstreamAuthSecretArn"
    )
    # The template allows 1-60; local runs and tests use sub-second timeouts to stay fast.
    downstream_timeout_s: float = setting(
        "DOWNSTREAM_TIMEOUT_SECONDS",
        35,
        parameter="DownstreamTimeoutSeconds",
        minimum=0.1,
        maximum=60,
    )
    downstream_max_attempts: int = setting(
        "DOWNSTREAM_MAX_ATTEMPTS", 5, parameter="DownstreamMaxAttempts", minimum=1, maximum=20
    )
    downstream_backoff_base_s: float = setting(
        "DOWNSTREAM_BACKOFF_BASE_SECONDS",
        0.2,
        parameter="DownstreamBackoffBaseSeconds",
        minimum=0,
        maximum=10,
    )
    downstream_backoff_max_s: float = setting(
        "DOWNSTREAM_BACKOFF_MAX_SECONDS",
        10,
        parameter="DownstreamBackoffMaxSeconds",
        minimum=0,
        maximum=120,
    )
    downstream_rate_limit_per_second: float = setting(
        "DOWNSTREAM_RATE_LIMIT_PER_SECOND", 0, parameter="DownstreamRateLimitPerSecond", minimum=0
    )
    simulated_latency_ms: float = setting(
        "SIMULATED_LATENCY_MS", 50, parameter="SimulatedLatencyMs", minimum=0
    )
    # A String parameter (a share, by AllowedPattern) whose Default "0" reads as 0.0.
    simulated_failure_rate: float = setting(
        "SIMULATED_FAILURE_RATE", 0.0, parameter="SimulatedFailureRate", minimum=0, maximum=1
    )
    # This instance's share of the rate limit is the limit / MaxConcurrency.
    max_concurrency: int = shared.max_concurrency()
    # The template always passes its CheckpointTable; unset (a bare local run, a benchmark) the
    # whole object is sent in one go with nothing remembered.
    checkpoint_table: str = setting("CHECKPOINT_TABLE", "")
    idempotency_days: int = setting(
        "IDEMPOTENCY_DAYS", 30, parameter="IdempotencyDays", minimum=15, maximum=365
    )
    checkpoint_rows: int = setting(
        "CHECKPOINT_ROWS", 1, parameter="CheckpointRows", minimum=1, maximum=1000
    )
    checkpoint_seconds: float = setting(
        "CHECKPOINT_SECONDS", 10, parameter="CheckpointSeconds", minimum=1, maximum=300
    )
    no_progress_limit: int = setting(
        "NO_PROGRESS_LIMIT", 5, parameter="NoProgressLimit", minimum=1, maximum=100
    )
    # The IdempotencyTable while IdempotencyTableUpgrade is "read"; "" otherwise.
    legacy_idempotency_table: str = setting("LEGACY_IDEMPOTENCY_TABLE", "")
    csv_max_columns: int = setting(
        "CSV_MAX_COLUMNS", 16384, parameter="CsvMaxColumns", minimum=1, maximum=1_000_000
    )
    csv_max_record_bytes: int = setting(
        "CSV_MAX_RECORD_BYTES",
        4194304,
        parameter="CsvMaxRecordBytes",
        minimum=1024,
        maximum=67_108_864,
    )
    gzip_max_ratio: int = setting(
        "GZIP_MAX_RATIO", 100, parameter="GzipMaxRatio", minimum=2, maximum=2000
    )
    gzip_max_bytes: int = setting(
        "GZIP_MAX_BYTES",
        10737418240,
        parameter="GzipMaxBytes",
        minimum=1_048_576,
        maximum=1_099_511_627_776,
    )
    # What the role may read (empty: the whole bucket).
    object_key_prefix: str = setting("OBJECT_KEY_PREFIX", "", parameter="ObjectKeyPrefix")
