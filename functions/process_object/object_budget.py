"""How long one invocation may work, and how often it writes its checkpoint.

An invocation works until its budget (``Budget``: Lambda's deadline, and the drain round's stop
time) no longer fits one more attempt, then saves its checkpoint and returns ``unfinished``: that
is normal progress, never an error. The drain passes ``start_by`` (epoch seconds, the end of its
round for starting work): attempts start until then, each only if its worst case fits Lambda's
deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Left for the last checkpoint write and the response after the last attempt's worst case.
STOP_MARGIN_SECONDS = 1.0


@dataclass
class Budget:
    """When this invocation must stop.

    An attempt starts only if its wait plus one whole request (``request_s``,
    DownstreamTimeoutSeconds) ends by ``stop_at`` (Lambda's deadline less STOP_MARGIN_SECONDS),
    and only while the drain's round lasts (``start_until``, its ``start_by``): no attempt
    starts after the round, so the round waits on at most one request per worker, never on a
    whole invocation.
    """

    stop_at: float
    request_s: float
    lease_until: float  # the holder's own deadline: its lease never outlives it
    start_until: float = float("inf")
    clock: Callable[[], float] = time.time

    def fits(self, wait_s: float) -> bool:
        """Whether waiting ``wait_s`` then one whole request fits."""
        start = self.clock() + wait_s
        return start <= self.start_until and start + self.request_s <= self.stop_at

    def left(self) -> float:
        return min(self.stop_at, self.start_until) - self.clock()

    @classmethod
    def unlimited(cls, request_s: float = 0.0) -> Budget:
        return cls(stop_at=float("inf"), request_s=request_s, lease_until=time.time() + 900)


@dataclass(frozen=True)
class CheckpointPolicy:
    rows: int = 1  # CheckpointRows
    seconds: float = 10.0  # CheckpointSeconds
    no_progress_limit: int = 5  # NoProgressLimit


def start_by(event: Any) -> float | None:
    """The event's ``start_by`` (epoch seconds); None when not given or unreadable."""
    value = event.get("start_by") if isinstance(event, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def budget_for(event: Any, context: Any, request_s: float) -> Budget | None:
    """This invocation's budget, or None when it is too late to start at all.

    Lambda's deadline bounds every attempt's worst case; the drain's ``start_by`` (its round's
    end for starting work) bounds when attempts may start, so a round waits on at most one
    request per worker. A drain from before resumable processing passes the same field: it
    reads an unfinished object as postponed and puts the message back.
    """
    now = time.time()
    deadline = now + context.get_remaining_time_in_millis() / 1000
    until = start_by(event)
    budget = Budget(
        stop_at=deadline - STOP_MARGIN_SECONDS,
        request_s=request_s,
        lease_until=deadline,
        start_until=float("inf") if until is None else until,
    )
    return budget if budget.fits(0) else None
