"""PlanBatch's environment, declared once: what template.yaml passes and what it may hold.

The settings are the planners' own (``batch_planner.StaggerSettings`` and
``scaler.ScalerSettings``, which share the batch size) read from the environment, plus what
only the handler needs. Each default equals its template parameter's Default; the bounds are
the parameter's.
"""

from __future__ import annotations

from dataclasses import dataclass

from batch_planner import StaggerSettings
from scaler import ScalerSettings
from sluice_common import shared_settings as shared
from sluice_common.settings import setting


@dataclass(frozen=True)
class PlanBatchSettings(StaggerSettings, ScalerSettings):
    stagger_seconds: float = setting(
        "STAGGER_SECONDS", 1, parameter="StaggerSeconds", minimum=0, maximum=300
    )
    max_stagger_seconds: int = shared.max_stagger()
    batch_size: int = setting(
        "RECEIVE_BATCH_SIZE", 10, parameter="ReceiveBatchSize", minimum=1, maximum=10
    )
    min_concurrency: int = setting(
        "MIN_CONCURRENCY", 1, parameter="MinConcurrency", minimum=1, maximum=40
    )
    max_concurrency: int = shared.max_concurrency()
    cooldown_s: float = shared.scale_cooldown()
    # A batch holds no more objects than fit in one ProcessObject timeout.
    process_function_timeout_s: float = shared.process_function_timeout()
    # The queues' RedrivePolicy maxReceiveCount: a message's last receive is marked.
    max_receive_count: int = setting(
        "MAX_RECEIVE_COUNT", 5, parameter="MaxReceiveCount", minimum=1, maximum=1000
    )
