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
from sluice_common.settings import setting


@dataclass(frozen=True)
class PlanBatchSettings(StaggerSettings, ScalerSettings):
    stagger_seconds: float = setting(
        "STAGGER_SECONDS", 1, parameter="StaggerSeconds", minimum=0, maximum=300
    )
    max_stagger_seconds: int = setting(
        "MAX_STAGGER_SECONDS", 30, parameter="MaxStaggerSeconds", minimum=0, maximum=45
    )
    batch_size: int = setting(
        "RECEIVE_BATCH_SIZE", 10, parameter="ReceiveBatchSize", minimum=1, maximum=10
    )
    min_concurrency: int = setting(
        "MIN_CONCURRENCY", 1, parameter="MinConcurrency", minimum=1, maximum=40
    )
    max_concurrency: int = setting(
        "MAX_CONCURRENCY", 5, parameter="MaxConcurrency", minimum=1, maximum=40
    )
    # A round's length (DrainLease reads the same variable for the lease).
    cooldown_s: float = setting(
        "SCALE_COOLDOWN_SECONDS", 30, parameter="ScaleCooldownSeconds", minimum=0
    )
    # ProcessObject's timeout: a batch holds no more objects than fit in one.
    process_function_timeout_s: float = setting(
        "PROCESS_FUNCTION_TIMEOUT_SECONDS", 120, parameter="FunctionTimeout", minimum=3, maximum=180
    )
    # The queues' RedrivePolicy maxReceiveCount: a message's last receive is marked.
    max_receive_count: int = setting(
        "MAX_RECEIVE_COUNT", 5, parameter="MaxReceiveCount", minimum=1, maximum=1000
    )
