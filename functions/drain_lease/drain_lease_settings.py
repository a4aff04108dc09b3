"""DrainLease's environment, declared once: what template.yaml passes and what it may hold.

The settings are the lease's own (:class:`lease.LeaseSettings`), read from the environment:
each default equals its template parameter's Default, the bounds are the parameter's.
"""

from __future__ import annotations

from dataclasses import dataclass

from lease import LeaseSettings
from sluice_common.settings import setting


@dataclass(frozen=True)
class DrainLeaseSettings(LeaseSettings):
    table: str = setting("LEASE_TABLE")  # the template's LeaseTable
    # ProcessObject's timeout: how long one object can hold a worker past the round.
    function_timeout_s: float = setting(
        "PROCESS_FUNCTION_TIMEOUT_SECONDS", 120, parameter="FunctionTimeout", minimum=3, maximum=180
    )
    max_stagger_s: float = setting(
        "MAX_STAGGER_SECONDS", 30, parameter="MaxStaggerSeconds", minimum=0, maximum=45
    )
    # A round's length: PlanBatch re-plans concurrency this often (the same variable there).
    round_s: float = setting(
        "SCALE_COOLDOWN_SECONDS", 30, parameter="ScaleCooldownSeconds", minimum=0
    )
