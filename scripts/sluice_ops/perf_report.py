"""`sluice perf`'s figures and goals, and report.md. Pure functions over plain data, so each is
tested without AWS (the run's objects: :mod:`sluice_ops.perf_run`; the samples and samples.csv:
:mod:`sluice_ops.perf_samples`).

A *sample* is one ``sluice_ops.monitor.snapshot(ctx)`` taken at a known time, with how many
objects of the run had ended by then. An object *ends* when ProcessObject logs "object processed"
for its key, or when its message is in ObjectDeadLetterQueue (the reason comes with it); a dead
letter wins over a processed line (an object whose rows kept failing is both).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sluice_ops.perf_run import (
    RUNNING_SOURCE,
    Accounting,
    Sample,
    percentile,
    running,
    running_shares,
)
from sluice_ops.perf_samples import (
    QUEUE_NAMES,
    UNAVAILABLE,
    dig,
    in_flight,
    in_flight_source,
    iso,
    number,
    queue_depth,
)

# README "Measured": the concurrency bound (benchmarks/bound.py) and the seed's pace both aim at
# a downstream kept busy 95% of the time while a backlog waits.
UTILIZATION_GOAL = 0.95


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
        share, utilization = running_shares(steps, limit)
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
    below_alarms = (
        ("downstream failure rate", "AlarmDownstreamFailureRate", "", f.max_failure_rate,
         _fmt(f.max_failure_rate, 3) + " (highest in any sample)"),
        ("oldest message age", "AlarmOldestMessageAgeSeconds", " s", f.max_oldest_age_s,
         _fmt(f.max_oldest_age_s, 0, "s")),
    )  # fmt: skip
    for name, parameter, unit, highest, measured in below_alarms:
        threshold = _param(parameters, parameter)
        if threshold is not None:  # a goal only where the stack sets the alarm's threshold
            out.append(
                Goal(
                    name,
                    f"< {threshold:g}{unit} ({parameter})",
                    measured,
                    None if highest is None else highest < threshold,
                    f"parameter {parameter}",
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
