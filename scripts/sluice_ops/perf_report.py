"""`sluice perf`'s figures: samples to CSV rows, object timings to percentiles, figures to goals
and report.md. Pure functions over plain data, so each is tested without AWS.

A *sample* is one ``sluice_ops.monitor.snapshot(ctx)`` taken at a known time, with how many
objects of the run had ended by then. An object *ends* when ProcessObject logs "object processed"
for its key, or when its message is in ObjectDeadLetterQueue (the reason comes with it); a dead
letter wins over a processed line (an object whose rows kept failing is both).
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

QUEUE_NAMES = ("ObjectQueue", "PriorityQueue")
RUNNING_SOURCE = "ProcessObject invocations running, from its log lines"
UNAVAILABLE = "unavailable"  # the monitor's map of null figures to the reason
# README "Measured": the concurrency bound (benchmarks/bound.py) and the seed's pace both aim at
# a downstream kept busy 95% of the time while a backlog waits.
UTILIZATION_GOAL = 0.95


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


def _running_shares(
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


# -- samples ---------------------------------------------------------------------------------


def dig(snapshot: Mapping[str, Any], *path: str) -> Any:
    """snapshot[path[0]][path[1]]..., or None where a level is missing."""
    value: Any = snapshot
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def queue_depth(snapshot: Mapping[str, Any]) -> float | None:
    """Messages waiting or in flight in ObjectQueue and PriorityQueue; None if not reported."""
    values = [
        number(dig(snapshot, "queues", name, part))
        for name in QUEUE_NAMES
        for part in ("visible", "in_flight")
    ]
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def in_flight(snapshot: Mapping[str, Any]) -> float | None:
    """Downstream calls in flight. The monitor's own figure when it has one, else ProcessObject's
    concurrency: each instance makes one downstream call at a time (docs/rate-control.md)."""
    direct = number(dig(snapshot, "downstream", "in_flight"))
    return direct if direct is not None else number(dig(snapshot, "process_object", "concurrency"))


def in_flight_source(samples: Sequence[Sample]) -> str:
    if any(number(dig(s.snapshot, "downstream", "in_flight")) is not None for s in samples):
        return "downstream calls in flight"
    return "ProcessObject concurrency (one downstream call per instance)"


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _flatten(inner, f"{prefix}.{key}" if prefix else str(key), out)
    elif isinstance(value, list | tuple):
        out[prefix] = ";".join(str(v) for v in value)
    else:
        out[prefix] = value


def flatten(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """One flat row: nested keys joined with '.', lists joined with ';'."""
    out: dict[str, Any] = {}
    _flatten(snapshot, "", out)
    return out


def csv_rows(samples: Sequence[Sample], started_at: float) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of samples.csv: perf's own columns, then every snapshot field (the union
    over samples, in the order first seen, so a field a later sample adds gets a column)."""
    own = ["sampled_at", "elapsed_s", "objects_ended"]
    # Why a figure is null is prose, not a series: report.md lists it once.
    flat = [flatten({k: v for k, v in s.snapshot.items() if k != UNAVAILABLE}) for s in samples]
    columns: dict[str, None] = {}
    for row in flat:
        columns.update(dict.fromkeys(k for k in row if k not in own))
    header = own + list(columns)
    rows = []
    for sample, row in zip(samples, flat, strict=True):
        values: list[Any] = [
            iso(sample.at),
            round(sample.at - started_at, 3),
            sample.objects_ended,
        ]
        values += ["" if row.get(c) is None else row[c] for c in columns]
        rows.append(values)
    return header, rows


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _weights(samples: Sequence[Sample]) -> list[float]:
    """Each sample stands for the time until the next one (the last for none)."""
    return [max(0.0, b.at - a.at) for a, b in itertools.pairwise(samples)] + [0.0] * bool(samples)


# -- figures and goals -----------------------------------------------------------------------


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    stack: str
    region: str | None
    endpoint: str | None
    prefix: str
    mode: str  # what loaded the stack, in words
    parameters: Mapping[str, str]
    started_at: float
    finished_at: float
    timed_out: bool
    interval_s: float
    timeout_s: float
    log_group: str | None = None
    interrupted: bool = False


@dataclass(frozen=True)
class Figures:
    uploaded: int
    processed: int
    dead_lettered: int
    unaccounted: list[str]
    dead_letters_by_reason: dict[str, int]
    broken_uploaded: int | None
    seconds_p50: float | None
    seconds_p95: float | None
    seconds_max: float | None
    objects_per_s: float | None
    rows_processed: int | None
    rows_per_s: float | None
    limit: int | None  # MaxConcurrency
    in_flight_source: str
    peak_in_flight: float | None
    share_at_limit: float | None
    utilization: float | None  # mean in flight / limit while objects were processed
    max_throttles: float | None
    max_failure_rate: float | None
    max_oldest_age_s: float | None
    peak_queue_depth: float | None
    alarms_seen: list[str]
    samples: int
    unavailable: dict[str, str]  # figure -> why the monitor could not read it (last sample)

    @property
    def complete(self) -> bool:
        return not self.unaccounted


def _limit(parameters: Mapping[str, str]) -> int | None:
    try:
        return int(parameters["MaxConcurrency"])
    except (KeyError, ValueError):
        return None


def _peak(samples: Sequence[Sample], *path: str) -> float | None:
    values = [v for s in samples if (v := number(dig(s.snapshot, *path))) is not None]
    return max(values) if values else None


def _peak_oldest_age(samples: Sequence[Sample]) -> float | None:
    values = [
        v
        for s in samples
        for name in QUEUE_NAMES
        if (v := number(dig(s.snapshot, "queues", name, "oldest_age_s"))) is not None
    ]
    return max(values) if values else None


def _time_shares(samples: Sequence[Sample], limit: int | None) -> tuple[float | None, float | None]:
    """(share of the sampled time at the limit, mean in flight / limit while a backlog waited)."""
    if limit is None or limit <= 0:
        return None, None
    weights = _weights(samples)
    total = at_limit = backlog_time = busy = 0.0
    for sample, weight in zip(samples, weights, strict=True):
        value = in_flight(sample.snapshot)
        if value is None or weight == 0:
            continue
        total += weight
        at_limit += weight if value >= limit else 0.0
        depth = queue_depth(sample.snapshot)
        if depth:  # a backlog waited (messages visible or in flight)
            backlog_time += weight
            busy += weight * min(value, limit) / limit
    share = at_limit / total if total else None
    utilization = busy / backlog_time if backlog_time else None
    return share, utilization


def _unavailable(samples: Sequence[Sample]) -> dict[str, str]:
    gaps = dig(samples[-1].snapshot, UNAVAILABLE) if samples else None
    if not isinstance(gaps, Mapping):
        return {}
    return {str(k): str(v) for k, v in sorted(gaps.items())}


def build_figures(info: RunInfo, samples: Sequence[Sample], accounting: Accounting) -> Figures:
    times = accounting.seconds_to_processed()
    processed = accounting.ended("processed")
    ended = accounting.ended()
    first_upload = min((o.uploaded_at for o in accounting.objects), default=None)
    end_times = [t for o in ended if (t := accounting.endings[o.key].ended_at) is not None]
    window = max(end_times) - first_upload if end_times and first_upload is not None else None
    rows: list[int] = []
    for o in processed:
        logged = accounting.endings[o.key].rows
        count = o.rows if o.rows is not None else logged
        if count is not None:
            rows.append(count)
    rows_known = len(rows) == len(processed)
    # The parameter, else what Lambda reports as the function's reserved concurrency.
    limit = _limit(info.parameters)
    if limit is None and (reported := _peak(samples, "process_object", "limit")) is not None:
        limit = int(reported)
    # Invocations from the log lines are exact to the millisecond; the monitor's concurrency
    # is a per-minute CloudWatch maximum, used when no line says how long an invocation took.
    steps = running(accounting.invocations)
    if steps:
        share, utilization = _running_shares(steps, limit)
        peaks = [float(count) for _, count in steps]
        source = RUNNING_SOURCE
    else:
        share, utilization = _time_shares(samples, limit)
        peaks = [v for s in samples if (v := in_flight(s.snapshot)) is not None]
        source = in_flight_source(samples)
    depths = [v for s in samples if (v := queue_depth(s.snapshot)) is not None]
    alarms: dict[str, None] = {}
    for s in samples:
        names = dig(s.snapshot, "alarms_in_alarm")
        if isinstance(names, list):
            alarms.update(dict.fromkeys(str(n) for n in names))
    broken = (
        sum(1 for o in accounting.objects if o.broken)
        if all(o.broken is not None for o in accounting.objects)
        else None
    )
    return Figures(
        uploaded=len(accounting.objects),
        processed=len(processed),
        dead_lettered=len(accounting.ended("dead-lettered")),
        unaccounted=[o.key for o in accounting.unaccounted],
        dead_letters_by_reason=dict(sorted(accounting.dead_letters_by_reason().items())),
        broken_uploaded=broken,
        seconds_p50=percentile(times, 50),
        seconds_p95=percentile(times, 95),
        seconds_max=max(times) if times else None,
        objects_per_s=len(ended) / window if window else None,
        rows_processed=sum(rows) if rows_known else None,
        rows_per_s=sum(rows) / window if window and rows_known else None,
        limit=limit,
        in_flight_source=source,
        peak_in_flight=max(peaks) if peaks else None,
        share_at_limit=share,
        utilization=utilization,
        max_throttles=_peak(samples, "process_object", "throttles"),
        max_failure_rate=_peak(samples, "downstream", "failure_rate"),
        max_oldest_age_s=_peak_oldest_age(samples),
        peak_queue_depth=max(depths) if depths else None,
        alarms_seen=list(alarms),
        samples=len(samples),
        unavailable=_unavailable(samples),
    )


@dataclass(frozen=True)
class Goal:
    name: str
    target: str
    measured: str
    met: bool | None  # None: no data to judge
    source: str


def _param(parameters: Mapping[str, str], name: str) -> float | None:
    try:
        return float(parameters[name])
    except (KeyError, ValueError):
        return None


def _fmt(value: float | None, digits: int = 2, unit: str = "") -> str:
    if value is None:
        return "n/a"
    text = f"{value:,.{digits}f}"
    return f"{text} {unit}".rstrip()


def goals(figures: Figures, parameters: Mapping[str, str]) -> list[Goal]:
    f = figures
    out = [
        Goal(
            "every object accounted for",
            "processed + dead-lettered = uploaded (0 lost)",
            f"{f.processed} + {f.dead_lettered} of {f.uploaded}; unaccounted {len(f.unaccounted)}",
            not f.unaccounted,
            'README "Measured" (0 lost in every run)',
        )
    ]
    if f.broken_uploaded is not None:
        out.append(
            Goal(
                "dead letters are the broken objects",
                f"dead-lettered = broken objects uploaded ({f.broken_uploaded})",
                str(f.dead_lettered),
                f.dead_lettered == f.broken_uploaded if f.complete else None,
                "the simulation's broken share",
            )
        )
    ratio = f.peak_in_flight / f.limit if f.peak_in_flight is not None and f.limit else None
    out.append(
        Goal(
            "peak downstream calls in flight / MaxConcurrency",
            "<= 1.00",
            f"{_fmt(f.peak_in_flight, 0)} / {f.limit if f.limit else 'n/a'} = {_fmt(ratio)}",
            None if ratio is None else ratio <= 1.0,
            'parameter MaxConcurrency (the hard bound); README "Measured" (bound.py: 1.00)',
        )
    )
    out.append(
        Goal(
            "utilization while objects were processed",
            f">= {UTILIZATION_GOAL:.2f} (mean in flight / MaxConcurrency)",
            _fmt(f.utilization),
            None if f.utilization is None else f.utilization >= UTILIZATION_GOAL,
            'README "Measured" (bound.py, seed_pace.py goal)',
        )
    )
    out.append(
        Goal(
            "ProcessObject throttles",
            "0 (the drain never asks for more than MaxConcurrency)",
            _fmt(f.max_throttles, 0) + " (highest in any sample)",
            None if f.max_throttles is None else f.max_throttles == 0,
            "docs/rate-control.md (0 throttles with the lease working)",
        )
    )
    alarm_rate = _param(parameters, "AlarmDownstreamFailureRate")
    if alarm_rate is not None:
        out.append(
            Goal(
                "downstream failure rate",
                f"< {alarm_rate:g} (AlarmDownstreamFailureRate)",
                _fmt(f.max_failure_rate, 3) + " (highest in any sample)",
                None if f.max_failure_rate is None else f.max_failure_rate < alarm_rate,
                "parameter AlarmDownstreamFailureRate",
            )
        )
    alarm_age = _param(parameters, "AlarmOldestMessageAgeSeconds")
    if alarm_age is not None:
        out.append(
            Goal(
                "oldest message age",
                f"< {alarm_age:g} s (AlarmOldestMessageAgeSeconds)",
                _fmt(f.max_oldest_age_s, 0, "s"),
                None if f.max_oldest_age_s is None else f.max_oldest_age_s < alarm_age,
                "parameter AlarmOldestMessageAgeSeconds",
            )
        )
    return out


# -- report.md -------------------------------------------------------------------------------


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "**not met**", None: "no data"}[met]


def _cell(text: Any) -> str:
    """A table cell: pipes and line breaks of keys or reasons would break the table."""
    return str(text).replace("|", "\\|").replace("\n", " ").replace("\r", " ")


# The parameters that decide how fast the pipeline goes (template.yaml), shown first.
RATE_PARAMETERS = (
    "MaxConcurrency",
    "MinConcurrency",
    "ReceiveBatchSize",
    "ScaleCooldownSeconds",
    "StaggerSeconds",
    "MaxStaggerSeconds",
    "DrainSchedule",
    "FunctionTimeout",
    "FunctionMemorySize",
    "CheckpointRows",
    "DownstreamTimeoutSeconds",
    "DownstreamRateLimitPerSecond",
    "DownstreamMaxAttempts",
    "MaxReceiveCount",
)


def _parameter_table(parameters: Mapping[str, str]) -> list[str]:
    return ["| parameter | value |", "| --- | --- |"] + [
        f"| {_cell(k)} | {f'`{_cell(v)}`' if v else '(empty)'} |"
        for k, v in sorted(parameters.items())
    ]


def render_report(
    info: RunInfo,
    figures: Figures,
    goal_list: Iterable[Goal],
    plots: Mapping[str, str],
) -> str:
    """report.md. ``plots`` maps a title to a PNG file name beside the report."""
    f = figures
    if info.interrupted and f.unaccounted:
        status = (
            f"**INCOMPLETE**: interrupted after {info.finished_at - info.started_at:,.0f} s "
            f"with {len(f.unaccounted)} of {f.uploaded} objects not yet processed or "
            "dead-lettered."
        )
    elif info.timed_out:
        status = (
            f"**INCOMPLETE**: timed out after {info.timeout_s:g} s with {len(f.unaccounted)} "
            f"of {f.uploaded} objects not yet processed or dead-lettered."
        )
    else:
        status = "Complete: every object of the run was processed or dead-lettered."
    lines = [
        f"# Sluice performance report: run {info.run_id}",
        "",
        status,
        "",
        "## Run",
        "",
        "| | |",
        "| --- | --- |",
        f"| run id | `{_cell(info.run_id)}` |",
        f"| stack | `{_cell(info.stack)}` |",
        f"| region | {_cell(info.region or 'default')} |",
        f"| endpoint | {_cell(info.endpoint or 'AWS (default endpoints)')} |",
        f"| load | {_cell(info.mode)} |",
        f"| key prefix | `{_cell(info.prefix)}` |",
        f"| started | {iso(info.started_at)} |",
        f"| finished | {iso(info.finished_at)} ({info.finished_at - info.started_at:,.1f} s) |",
        f"| samples | {f.samples}, every {info.interval_s:g} s (timeout {info.timeout_s:g} s) |",
        f'| processed from | ProcessObject\'s "object processed" log lines in '
        f"`{_cell(info.log_group or 'n/a')}`; dead letters from ObjectDeadLetterQueue |",
        "",
        "## Goals",
        "",
        "| goal | target | measured | verdict | source |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {_cell(g.name)} | {_cell(g.target)} | {_cell(g.measured)} | {_verdict(g.met)} "
        f"| {_cell(g.source)} |"
        for g in goal_list
    ]
    lines += [
        "",
        "## Figures",
        "",
        "| figure | value |",
        "| --- | --- |",
        f"| objects uploaded | {f.uploaded} |",
        f"| processed | {f.processed} |",
        f"| dead-lettered | {f.dead_lettered} |",
        f"| unaccounted | {len(f.unaccounted)} |",
        f"| upload to processed, p50 / p95 / max | {_fmt(f.seconds_p50, 1, 's')} / "
        f"{_fmt(f.seconds_p95, 1, 's')} / {_fmt(f.seconds_max, 1, 's')} |",
        f"| objects/s (first upload to last end) | {_fmt(f.objects_per_s)} |",
        f"| rows processed | {f.rows_processed if f.rows_processed is not None else 'n/a'} |",
        f"| rows/s (first upload to last end) | {_fmt(f.rows_per_s, 1)} |",
        f"| MaxConcurrency | {f.limit if f.limit is not None else 'n/a'} |",
        f"| peak in flight / limit | {_fmt(f.peak_in_flight, 0)} / "
        f"{f.limit if f.limit is not None else 'n/a'} ({_cell(f.in_flight_source)}) |",
        f"| share of time at MaxConcurrency | {_fmt(f.share_at_limit)} |",
        f"| utilization while objects were processed | {_fmt(f.utilization)} |",
        f"| peak queue depth (ObjectQueue + PriorityQueue, visible + in flight) | "
        f"{_fmt(f.peak_queue_depth, 0)} |",
        f"| alarms seen in ALARM | {_cell(', '.join(f.alarms_seen) or 'none')} |",
        "",
        "## Dead letters by reason",
        "",
    ]
    if f.dead_letters_by_reason:
        lines += ["| sluice-error | objects |", "| --- | --- |"]
        lines += [f"| {_cell(r)} | {n} |" for r, n in f.dead_letters_by_reason.items()]
    else:
        lines.append("None.")
    if f.unaccounted:
        shown = f.unaccounted[:50]
        lines += ["", "## Unaccounted objects", ""]
        lines += [f"- `{_cell(k)}`" for k in shown]
        if len(f.unaccounted) > len(shown):
            lines.append(f"- ... and {len(f.unaccounted) - len(shown)} more")
    if f.unavailable:
        lines += ["", "## Figures the monitor could not read (last sample)", ""]
        lines += ["| figure | why |", "| --- | --- |"]
        lines += [f"| {_cell(k)} | {_cell(v)} |" for k, v in f.unavailable.items()]
    lines += ["", "## Plots", ""]
    lines += [f"![{_cell(title)}]({name})" for title, name in plots.items()]
    shaping = {k: info.parameters[k] for k in RATE_PARAMETERS if k in info.parameters}
    lines += ["", "## Parameters that shape the rate", ""]
    lines += _parameter_table(shaping) if shaping else ["None known."]
    lines += ["", "<details><summary>Every parameter of the stack</summary>", ""]
    lines += [*_parameter_table(info.parameters), "", "</details>"]
    lines += [
        "",
        'How to read this: README "Operate" (sluice perf). Times per object run from the '
        "upload's end to ProcessObject's \"object processed\" log line (CloudWatch Logs event "
        "time); the in-flight and queue figures are the monitor's samples (`samples.csv`).",
        "",
    ]
    return "\n".join(lines)
