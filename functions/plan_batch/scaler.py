"""How many workers the next round runs at once: queue depth, then backpressure.

1. Depth: ``MinConcurrency`` plus one per batch of backlog (``ceil(depth / batch_size)``), at most
   ``MaxConcurrency``: a trickle runs gently, a backlog at full width.
2. Backpressure (additive increase, multiplicative decrease): a ceiling that halves when the last
   round saw the downstream push back (more than ``RETRY_RATIO`` of its calls retried for
   429/5xx/timeouts, or its time per row more than ``SLOW_FACTOR`` x the running baseline) and
   grows by one per ``cooldown`` of healthy rounds, back up to ``MaxConcurrency``. Within a round,
   a worker whose own batch was pushed back stops at once (:func:`pushback`), so the load drops
   before the round ends.

The result never exceeds MaxConcurrency, which ProcessObject's reserved concurrency enforces
anyway. State (the ceiling, when it last moved, the per-row and per-object baselines) travels
with the drain.
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
    """What ProcessObject summaries say about the downstream (one batch, or a whole round)."""

    calls: int = 0  # rows sent + rows failed + retries
    retries: int = 0
    rows: int = 0
    duration_ms: int = 0
    objects: int = 0  # objects that ran (dead-lettered before running: not counted)

    def __add__(self, other: Feedback) -> Feedback:
        return Feedback(
            self.calls + other.calls,
            self.retries + other.retries,
            self.rows + other.rows,
            self.duration_ms + other.duration_ms,
            self.objects + other.objects,
        )

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Feedback:
        if not isinstance(data, Mapping):
            return cls()
        return cls(**{name: int(data.get(name) or 0) for name in cls.__dataclass_fields__})

    @property
    def seconds_per_object(self) -> float | None:
        return self.duration_ms / self.objects / 1000 if self.objects else None

    @property
    def retry_ratio(self) -> float:
        return self.retries / self.calls if self.calls else 0.0

    @property
    def ms_per_row(self) -> float | None:
        return self.duration_ms / self.rows if self.rows else None

    @classmethod
    def from_results(cls, results: Iterable[Mapping[str, Any]]) -> Feedback:
        calls = retries = rows = duration = objects = 0
        for result in results:
            if not isinstance(result, Mapping):
                continue
            sent, failed = int(result.get("rowsSent") or 0), int(result.get("rowsFailed") or 0)
            retried = int(result.get("retries") or 0)
            calls += sent + failed + retried
            retries += retried
            rows += sent + failed
            ran = int(result.get("durationMs") or 0)
            duration += ran
            objects += 1 if ran else 0
        return cls(calls, retries, rows, duration, objects)

    @classmethod
    def from_workers(cls, outputs: Iterable[Any]) -> Feedback:
        """A round's feedback: each worker's running totals plus its last batch's results."""
        total = cls()
        for output in outputs:
            if isinstance(output, Mapping):
                last = output.get("last")
                total += cls.from_dict(output.get("totals"))
                total += cls.from_results(last if isinstance(last, list) else [])
        return total


@dataclass(frozen=True)
class Pace:
    ceiling: float
    changed_at: float
    baseline_ms_per_row: float | None = None
    concurrency: int = 0
    reason: str = "start"
    seconds_per_object: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, settings: ScalerSettings, now: float) -> Pace:
        if not isinstance(data, Mapping) or "ceiling" not in data:
            return cls(ceiling=settings.max_concurrency, changed_at=now - settings.cooldown_s)
        baseline = data.get("baseline_ms_per_row")
        per_object = data.get("seconds_per_object")
        return cls(
            ceiling=float(data["ceiling"]),
            changed_at=float(data.get("changed_at", now)),
            baseline_ms_per_row=float(baseline) if baseline is not None else None,
            concurrency=int(data.get("concurrency", 0)),
            reason=str(data.get("reason", "")),
            seconds_per_object=float(per_object) if per_object is not None else None,
        )


def by_depth(settings: ScalerSettings, queue_depth: int) -> int:
    wanted = settings.min_concurrency + math.ceil(max(0, queue_depth) / settings.batch_size)
    return max(settings.min_concurrency, min(settings.max_concurrency, wanted))


def pushback(feedback: Feedback, baseline_ms_per_row: float | None) -> str | None:
    """Why the downstream is pushing back, by the batch's results; None when it is not."""
    if feedback.retry_ratio > RETRY_RATIO:
        return f"backpressure: {feedback.retry_ratio:.0%} of calls retried"
    ms_per_row = feedback.ms_per_row
    if (
        baseline_ms_per_row is not None
        and ms_per_row is not None
        and ms_per_row > SLOW_FACTOR * baseline_ms_per_row
    ):
        return f"backpressure: {ms_per_row:.0f} ms per row vs {baseline_ms_per_row:.0f} ms baseline"
    return None


def _average(previous: float | None, value: float | None) -> float | None:
    if value is None:
        return previous
    if previous is None:
        return value
    return (1 - BASELINE_WEIGHT) * previous + BASELINE_WEIGHT * value


def next_pace(
    previous: Pace, feedback: Feedback, queue_depth: int, now: float, settings: ScalerSettings
) -> Pace:
    ceiling, changed_at, reason = previous.ceiling, previous.changed_at, "steady"
    baseline = previous.baseline_ms_per_row
    why = pushback(feedback, baseline)
    if why:
        # Halve what actually ran, not a ceiling that was never reached.
        ran = previous.concurrency or settings.max_concurrency
        ceiling = max(settings.min_concurrency, math.floor(min(ceiling, ran) / 2))
        changed_at, reason = now, why
    elif ceiling < settings.max_concurrency and now - changed_at >= settings.cooldown_s:
        ceiling, changed_at, reason = min(settings.max_concurrency, ceiling + 1), now, "recovering"
    ms_per_row = feedback.ms_per_row
    slow = baseline is not None and ms_per_row is not None and ms_per_row > SLOW_FACTOR * baseline
    if not slow:  # a slow spell must not become the new normal
        baseline = _average(baseline, ms_per_row)
    concurrency = max(settings.min_concurrency, min(by_depth(settings, queue_depth), int(ceiling)))
    per_object = _average(previous.seconds_per_object, feedback.seconds_per_object)
    return Pace(ceiling, changed_at, baseline, concurrency, reason, per_object)
