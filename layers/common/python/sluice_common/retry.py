"""Retry mechanics every outbound call shares: full-jitter backoff, Retry-After, retryable codes.

Each caller keeps its own loop (what it does between attempts differs: a row's time budget and
checkpoint, a HEC batch's invocation deadline, a DynamoDB batch's unprocessed items), and takes
from here how long to wait and whether an answer is worth another attempt.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

# The answers worth another attempt from an HTTP API: throttled, or a transient server fault.
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})

JITTER = random.Random()  # noqa: S311  # nosec B311 - backoff jitter, not security


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And
    Jitter"): attempt n waits uniform(0, min(cap_s, base_s * 2**(n-1)))."""

    max_attempts: int
    base_s: float
    cap_s: float

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.base_s < 0 or self.cap_s < 0:
            raise ValueError(f"invalid backoff {self}")

    def delay(
        self, attempt: int, rng: random.Random | None = None, retry_after: float | None = None
    ) -> float:
        """The wait after failed attempt ``attempt`` (1-based): the jittered backoff, or the
        server's Retry-After when longer (never more than ``cap_s``)."""
        wait = (rng or JITTER).uniform(0, min(self.cap_s, self.base_s * 2 ** (attempt - 1)))
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.cap_s))
        return wait


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date (RFC 9110
    section 10.2.3); None when absent or unreadable, 0 for a date in the past."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
