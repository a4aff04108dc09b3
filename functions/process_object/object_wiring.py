"""ProcessObject's wiring: its settings turned into the clients and policies the domain takes.

One :class:`ObjectWiring` per container (app.py caches it), so the S3 and DynamoDB clients and
the downstream's HTTP pool are reused across invocations. Nothing here is built until first
asked for: a handler that returns early (postponed) creates no client.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from checkpoint import CheckpointStore, LegacyRecords
from csv_rows import CsvLimits
from downstream import (
    Downstream,
    DownstreamMisconfigured,
    HttpDownstream,
    PacedDownstream,
    RetryPolicy,
    SimulatedDownstream,
    downstream_url,
)
from key_prefix import KeyPrefix
from object_budget import CheckpointPolicy
from process_object_settings import ProcessObjectSettings
from sluice_common.secrets import read_secret


class ObjectWiring:
    def __init__(self, config: ProcessObjectSettings) -> None:
        self.config = config
        self.policy = RetryPolicy(
            max_attempts=config.downstream_max_attempts,
            base_s=config.downstream_backoff_base_s,
            cap_s=config.downstream_backoff_max_s,
        )
        self.checkpoints = CheckpointPolicy(
            rows=config.checkpoint_rows,
            seconds=config.checkpoint_seconds,
            no_progress_limit=config.no_progress_limit,
        )
        self.csv_limits = CsvLimits(
            max_columns=config.csv_max_columns,
            max_record_bytes=config.csv_max_record_bytes,
            gzip_max_ratio=config.gzip_max_ratio,
            gzip_max_bytes=config.gzip_max_bytes,
        )
        self.key_prefix = KeyPrefix(config.object_key_prefix)

    @cached_property
    def s3(self) -> Any:
        import boto3

        return boto3.client("s3")

    @cached_property
    def dynamodb(self) -> Any:
        import boto3

        return boto3.client("dynamodb")

    @cached_property
    def downstream(self) -> Downstream:
        """The API rows go to: DownstreamApiUrl over HTTP, else the simulated one; paced when
        DownstreamRateLimitPerSecond is set. Raises DownstreamMisconfigured for an unsafe URL,
        before the object is read."""
        config = self.config
        url = downstream_url(config.downstream_api_url)
        api: Downstream = (
            HttpDownstream(url, config.downstream_timeout_s)
            if url
            else SimulatedDownstream(config.simulated_latency_ms, config.simulated_failure_rate)
        )
        if config.downstream_rate_limit_per_second > 0:
            # This instance's share: at most max_concurrency instances run at once.
            share = config.downstream_rate_limit_per_second / config.max_concurrency
            return PacedDownstream(api, share)
        return api

    @cached_property
    def legacy(self) -> LegacyRecords | None:
        """The IdempotencyTable of a stack upgraded from per-row records
        (IdempotencyTableUpgrade)."""
        table = self.config.legacy_idempotency_table
        return LegacyRecords(self.dynamodb, table) if table else None

    def checkpoint_store(self, owner: str) -> CheckpointStore | None:
        """The checkpoint store for one invocation (``owner``: its request id, the lease's
        holder); None without a CheckpointTable."""
        table = self.config.checkpoint_table
        if not table:
            return None
        return CheckpointStore(
            self.dynamodb, table, ttl_days=self.config.idempotency_days, owner=owner
        )

    def auth_token(self) -> str | None:
        """The downstream's bearer token, read every invocation through the secrets cache, so a
        rotated secret is used within its cache age."""
        arn = self.config.downstream_auth_secret_arn
        if not arn:
            return None
        return read_secret(
            arn, what="the downstream auth token", unavailable=DownstreamMisconfigured
        )
