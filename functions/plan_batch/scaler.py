"""How many objects the next batch may process at once: queue depth, then backpressure.

1. Depth: ``MinConcurrency`` plus one per batch of backlog (``ceil(depth / batch_size)``), at most
   ``MaxConcurrency``: a trickle runs gently, a backlog at full width.
2. Backpressure (additive increase, multiplicative decrease): a ceiling that halves when the last
   batch saw the downstream push back (more than ``RETRY_RATIO`` of its calls retried for
   429/5xx/timeouts, or its time per row more than ``SLOW_FACTOR`` x the running baseline) and
   grows by one per ``cooldown`` of healthy batches, back up to ``MaxConcurrency``.

The result never exceeds MaxConcurrency, which ProcessObject's reserved concurrency enforces
anyway. State (the ceiling, when it last moved, the per-row baseline) travels with the drain.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

RETRY_RATIO = 0.05
SLOW_FACTOR = 2.0
BASELINE_WEIGHT = 0.2  # exponential moving average of ms per row


@dataclass(frozen=True)
class ScalerSettings:
    min_concurrency: int
    max_concurrency: int
    batch_size: int
    cooldown_s: float


@dataclass(frozen=True)
class Feedback:
    """What the last batch's ProcessObject summaries say about the downstream."""

    calls: int = 0  # rows sent + rows failed + retries
    retries: int = 0
    rows: int = 0
    duration_ms: int = 0

    @property
    def retry_ratio(self) -> float:
        return self.retries / self.calls if self.calls else 0.0

    @property
    def ms_per_row(self) -> float | None:
        return self.duration_ms / self.rows if self.rows else None

    @classmethod
    def from_results(cls, results: Iterable[Mapping[str, Any]]) -> Feedback:
        calls = retries = rows = duration = 0
        for result in results:
            if not isinstance(result, Mapping):
                continue
            sent, failed = int(result.get("rowsSent") or 0), int(result.get("rowsFailed") or 0)
            retried = int(result.get("retries") or 0)
            calls += sent + failed + retried
            retries += retried
            rows += sent + failed
            duration += int(result.get("durationMs") or 0)
        return cls(calls, retries, rows, duration)


@dataclass(frozen=True)
class Pace:
    ceiling: float
    changed_at: float
    baseline_ms_per_row: float | None = None
    concurrency: int = 0
    reason: str = "start"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, settings: ScalerSettings, now: float) -> Pace:
        if not isinstance(data, Mapping) or "ceiling" not in data:
            return cls(ceiling=settings.max_concurrency, changed_at=now - settings.cooldown_s)
        baseline = data.get("baseline_ms_per_row")
        return cls(
            ceiling=float(data["ceiling"]),
            changed_at=float(data.get("changed_at", now)),
            baseline_ms_per_row=float(baseline) if baseline is not None else None,
            concurrency=int(data.get("concurrency", 0)),
            reason=str(data.get("reason", "")),
        )


def by_depth(settings: ScalerSettings, queue_depth: int) -> int:
    wanted = settings.min_concurrency + math.ceil(max(0, queue_depth) / settings.batch_size)
    return max(settings.min_concurrency, min(settings.max_concurrency, wanted))


def next_pace(
    previous: Pace, feedback: Feedback, queue_depth: int, now: float, settings: ScalerSettings
) -> Pace:
    ceiling, changed_at, reason = previous.ceiling, previous.changed_at, "steady"
    ms_per_row = feedback.ms_per_row
    baseline = previous.baseline_ms_per_row
    slow = baseline is not None and ms_per_row is not None and ms_per_row > SLOW_FACTOR * baseline
    pushed_back = feedback.retry_ratio > RETRY_RATIO or slow
    if pushed_back:
        # Halve what actually ran, not a ceiling that was never reached.
        ran = previous.concurrency or settings.max_concurrency
        ceiling = max(settings.min_concurrency, math.floor(min(ceiling, ran) / 2))
        changed_at = now
        reason = "backpressure: " + (
            f"{feedback.retry_ratio:.0%} of calls retried"
            if feedback.retry_ratio > RETRY_RATIO
            else f"{ms_per_row:.0f} ms per row vs {baseline:.0f} ms baseline"
        )
    elif ceiling < settings.max_concurrency and now - changed_at >= settings.cooldown_s:
        ceiling, changed_at, reason = min(settings.max_concurrency, ceiling + 1), now, "recovering"
    if ms_per_row is not None and not slow:
        baseline = (
            ms_per_row
            if baseline is None
            else (1 - BASELINE_WEIGHT) * baseline + BASELINE_WEIGHT * ms_per_row
        )
    concurrency = max(settings.min_concurrency, min(by_depth(settings, queue_depth), int(ceiling)))
    return Pace(ceiling, changed_at, baseline, concurrency, reason)
