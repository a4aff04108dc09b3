"""A `sluice perf` run's objects and how each ended, with the arithmetic over them: invocations
running at each moment, rates per bin, percentiles (see :mod:`sluice_ops.perf_report`)."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

RUNNING_SOURCE = "ProcessObject invocations running, from its log lines"


@dataclass(frozen=True)
class RunObject:
    """One object of the run, as uploaded (simulate) or found under the prefix."""

    key: str
    uploaded_at: float  # epoch seconds
    rows: int | None = None  # None: not known (an object found under --prefix)
    broken: bool | None = None  # None: not known


@dataclass(frozen=True)
class Ending:
    key: str
    outcome: Literal["processed", "dead-lettered"]
    ended_at: float | None  # epoch seconds; None when not known (a dead letter's time)
    reason: str | None = None  # the dead letter's sluice-error
    rows: int | None = None  # rows the object held, from ProcessObject's log line


@dataclass(frozen=True)
class Invocation:
    """One ProcessObject invocation that logged its end: "object processed" (finished) or
    "object unfinished" (it carries on in a later invocation)."""

    key: str
    finished: bool
    ended_at: float  # epoch seconds of the log line
    seconds: float | None  # how long it processed the object (sluice.duration_ms)
    rows: int | None = None  # rows the object held, when finished (next_row - 1)


@dataclass(frozen=True)
class Sample:
    at: float  # epoch seconds, when the snapshot was taken
    snapshot: Mapping[str, Any]
    objects_ended: int = 0


@dataclass
class Accounting:
    """Where each object of the run ended; processed + dead-lettered + unaccounted = uploaded."""

    objects: list[RunObject]
    endings: dict[str, Ending] = field(default_factory=dict)
    # (start, end) of each ProcessObject invocation on the run's objects, from its log lines
    invocations: list[tuple[float, float]] = field(default_factory=list)

    def record_invocation(self, invocation: Invocation) -> None:
        if invocation.seconds is not None:
            start = invocation.ended_at - invocation.seconds
            self.invocations.append((start, invocation.ended_at))
        if invocation.finished:
            self.record(
                Ending(invocation.key, "processed", invocation.ended_at, rows=invocation.rows)
            )

    def record(self, ending: Ending) -> None:
        """Keep the first processed time; a dead letter replaces a processed line."""
        known = self.endings.get(ending.key)
        if known is None or (ending.outcome == "dead-lettered" and known.outcome == "processed"):
            self.endings[ending.key] = ending

    @property
    def keys(self) -> set[str]:
        return {o.key for o in self.objects}

    def ended(self, outcome: str | None = None) -> list[RunObject]:
        return [
            o
            for o in self.objects
            if o.key in self.endings and outcome in (None, self.endings[o.key].outcome)
        ]

    @property
    def unaccounted(self) -> list[RunObject]:
        return [o for o in self.objects if o.key not in self.endings]

    @property
    def complete(self) -> bool:
        return not self.unaccounted

    def seconds_to_processed(self) -> list[float]:
        """Upload to "object processed", per processed object."""
        out = []
        for o in self.ended("processed"):
            at = self.endings[o.key].ended_at
            if at is not None:
                out.append(max(0.0, at - o.uploaded_at))
        return out

    def rows_ended(self) -> list[tuple[float, int]]:
        """(when, rows) of each processed object whose rows are known."""
        out = []
        for o in self.ended("processed"):
            ending = self.endings[o.key]
            rows = o.rows if o.rows is not None else ending.rows
            if ending.ended_at is not None and rows is not None:
                out.append((ending.ended_at, rows))
        return out

    def dead_letters_by_reason(self) -> Counter[str]:
        return Counter(self.endings[o.key].reason or "unknown" for o in self.ended("dead-lettered"))


def running(intervals: Iterable[tuple[float, float]]) -> list[tuple[float, int]]:
    """How many intervals are open from each change on: [(time, count from then)]. An interval
    that ends when another starts is not counted twice (ends sort first)."""
    changes = sorted(
        [(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals],
        key=lambda change: (change[0], change[1]),
    )
    steps: list[tuple[float, int]] = []
    count = 0
    for at, delta in changes:
        count += delta
        if steps and steps[-1][0] == at:
            steps[-1] = (at, count)
        else:
            steps.append((at, count))
    return steps


def running_shares(
    steps: Sequence[tuple[float, int]], limit: int | None
) -> tuple[float | None, float | None]:
    """(share of the processing time at the limit, mean running / limit), over the time from
    the first invocation's start to the last one's end."""
    if not steps or not limit:
        return None, None
    total = steps[-1][0] - steps[0][0]
    if total <= 0:
        return None, None
    at_limit = busy = 0.0
    for (at, count), (following, _) in itertools.pairwise(steps):
        at_limit += following - at if count >= limit else 0.0
        busy += (following - at) * min(count, limit)
    return at_limit / total, busy / limit / total


def rate_per_bin(
    events: Iterable[tuple[float, int]], started_at: float, width_s: float
) -> list[tuple[float, float]]:
    """(bin start in seconds since ``started_at``, amount per second) for consecutive bins of
    ``width_s`` up to the last event; empty bins included (a rate of 0 is a figure too)."""
    events = list(events)
    if not events or width_s <= 0:
        return []
    totals: Counter[int] = Counter()
    for at, amount in events:
        totals[max(0, int((at - started_at) // width_s))] += amount
    return [(n * width_s, totals[n] / width_s) for n in range(max(totals) + 1)]


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (a value that occurred); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]
