"""Settings more than one function reads, each declared here once (variable, parameter, default,
bounds); a function's settings class names its field and type and calls the declaration."""

from __future__ import annotations

from typing import Any

from sluice_common.settings import setting


def max_concurrency() -> Any:
    """Workers at most (PlanBatch's ceiling; ProcessObject's share of the rate limit)."""
    return setting("MAX_CONCURRENCY", 5, parameter="MaxConcurrency", minimum=1, maximum=40)


def process_function_timeout() -> Any:
    """ProcessObject's timeout: what one object may hold a worker (PlanBatch, DrainLease)."""
    return setting(
        "PROCESS_FUNCTION_TIMEOUT_SECONDS", 120, parameter="FunctionTimeout", minimum=3, maximum=180
    )


def max_stagger() -> Any:
    """The longest stagger delay a worker starts with (PlanBatch, DrainLease)."""
    return setting("MAX_STAGGER_SECONDS", 30, parameter="MaxStaggerSeconds", minimum=0, maximum=45)


def scale_cooldown() -> Any:
    """A round's length: PlanBatch re-plans concurrency this often, DrainLease sizes the lease."""
    return setting("SCALE_COOLDOWN_SECONDS", 30, parameter="ScaleCooldownSeconds", minimum=0)
