"""DrainLease's environment, declared once: what template.yaml passes and what it may hold.

The settings are the lease's own (:class:`lease.LeaseSettings`), read from the environment:
each default equals its template parameter's Default, the bounds are the parameter's.
"""

from __future__ import annotations

from dataclasses import dataclass

from lease import LeaseSettings
from sluice_common import shared_settings as shared
from sluice_common.settings import setting


@dataclass(frozen=True)
class DrainLeaseSettings(LeaseSettings):
    table: str = setting("LEASE_TABLE")  # the template's LeaseTable
    function_timeout_s: float = shared.process_function_timeout()
    max_stagger_s: float = shared.max_stagger()
    round_s: float = shared.scale_cooldown()
