"""MetricsSyncFunction's settings: every environment variable template.yaml sets on it."""

from __future__ import annotations

from dataclasses import dataclass

from sluice_common.settings import setting


@dataclass(frozen=True)
class MetricsSyncSettings:
    api_url: str = setting("DYNATRACE_API_URL", "", parameter="DynatraceApiUrl")
    token_secret_arn: str = setting(
        "DYNATRACE_TOKEN_SECRET_ARN", parameter="DynatraceTokenSecretArn"
    )
    stack: str = setting("STACK_NAME")
    # The resources whose metrics are synced; an empty name is skipped.
    object_queue: str = setting("OBJECT_QUEUE_NAME", "")
    priority_queue: str = setting("PRIORITY_QUEUE_NAME", "")
    dead_letter_queue: str = setting("DEAD_LETTER_QUEUE_NAME", "")
    extra_queues: tuple[str, ...] = setting("EXTRA_QUEUE_NAMES", ())  # the optional pipelines'
    functions: tuple[str, ...] = setting("FUNCTION_NAMES", ())
    state_machine_arn: str = setting("STATE_MACHINE_ARN", "")
    period_s: int = setting("SYNC_PERIOD_SECONDS", 300, parameter="MetricsSyncPeriodSeconds")
    # How far behind a run's window ends: CloudWatch receives data points late.
    delay_s: int = setting("SYNC_DELAY_SECONDS", 180)

    @property
    def queues(self) -> tuple[str, ...]:
        named = (self.object_queue, self.priority_queue, self.dead_letter_queue)
        return tuple(q for q in (*named, *self.extra_queues) if q)
