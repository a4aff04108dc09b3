"""MetricsSync's wiring: its settings, clients, token and the scheduled event's time.

The handler module caches what these make, once per container: it is loaded anew for each
container (a cold start, also in the local runtime), this module is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dynatrace_errors import DynatraceConfigError
from dynatrace_fetch import Resources, check_timing
from dynatrace_ingest import ingest_url
from metrics_sync_settings import MetricsSyncSettings
from sluice_common.observability import powertools
from sluice_common.secrets import read_secret, token_from
from sluice_common.settings import load

WHAT = "the Dynatrace API token"  # names the secret in errors


@dataclass(frozen=True)
class SyncConfig:
    """The settings, checked and turned into what one run needs."""

    ingest_url: str
    token_secret_arn: str
    resources: Resources
    period_s: int
    delay_s: int


def configure(settings: MetricsSyncSettings) -> SyncConfig:
    """Refuses (DynatraceConfigError) a URL or window that cannot work."""
    url = ingest_url(settings.api_url)
    check_timing(settings.period_s, settings.delay_s)
    return SyncConfig(
        ingest_url=url,
        token_secret_arn=settings.token_secret_arn,
        resources=Resources(
            stack=settings.stack,
            namespace=powertools.namespace,  # where the functions' EMF metrics are
            service=powertools.service,
            queues=settings.queues,
            functions=settings.functions,
            state_machine_arn=settings.state_machine_arn.strip(),
        ),
        period_s=settings.period_s,
        delay_s=settings.delay_s,
    )


def load_config() -> SyncConfig:
    # The sync's own error name, as before the settings reader.
    return configure(load(MetricsSyncSettings, error=DynatraceConfigError))


def cloudwatch_client() -> Any:
    import boto3

    return boto3.client("cloudwatch")


def http_pool() -> Any:
    import urllib3

    return urllib3.PoolManager(maxsize=2, retries=False)


def api_token(secret_arn: str) -> str:
    """The secret holds the token itself or ``{"token": "dt0c01...."}`` (cached 5 minutes)."""
    value = read_secret(secret_arn, what=WHAT, unavailable=DynatraceConfigError)
    return token_from(value, secret_arn, what=WHAT, malformed=DynatraceConfigError)


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
