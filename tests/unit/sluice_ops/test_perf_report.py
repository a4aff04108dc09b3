"""sluice perf's pure parts: accounting of objects, percentiles, samples.csv, goals, report.md
and the PNG plots (opened with PIL: valid PNGs of the size asked)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from sluice_ops import plots
from sluice_ops.perf_report import RunInfo, build_figures, goals, render_report
from sluice_ops.perf_run import (
    Accounting,
    Ending,
    Invocation,
    RunObject,
    Sample,
    percentile,
    rate_per_bin,
    running,
)
from sluice_ops.perf_samples import csv_rows, flatten, in_flight

T0 = 1_764_558_000.0  # 2025-12-01T03:00:00Z
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def snap(
    visible: int = 0,
    in_flight_: int | None = 0,
    concurrency: float | None = 0,
    rows_per_s: float | None = 0.0,
    throttles: float = 0,
    failure_rate: float = 0.0,
    oldest: float = 0.0,
    alarms: list[str] | None = None,
    priority_visible: int = 0,
) -> dict[str, Any]:
    """A monitor snapshot shaped as sluice_ops.monitor documents it."""
    return {
        "time": "2025-12-01T03:00:00Z",
        "queues": {
            "ObjectQueue": {"visible": visible, "in_flight": in_flight_, "oldest_age_s": oldest},
            "PriorityQueue": {"visible": priority_visible, "in_flight": 0, "oldest_age_s": 0},
        },
        "dead_letters": {"total": 0, "by_error": {}},
        "lease": {"held": False, "holder": None, "until": None},
        "drains": {"started": 1, "failed": 0, "timed_out": 0},
        "process_object": {"concurrency": concurrency, "throttles": throttles, "errors": 0},
        "rows_per_s": rows_per_s,
        "downstream": {"latency_ms": 20.0, "failure_rate": failure_rate},
        "alarms_in_alarm": alarms or [],
    }


PARAMETERS = {
    "MaxConcurrency": "4",
    "AlarmDownstreamFailureRate": "0.05",
    "AlarmOldestMessageAgeSeconds": "3600",
}


def info(**overrides: Any) -> RunInfo:
    values: dict[str, Any] = {
        "run_id": "20251201T030000Z-ab12",
        "stack": "sluice",
        "region": "us-east-1",
        "endpoint": "http://127.0.0.1:4566",
        "prefix": "sluice-simulate/20251201T030000Z-ab12/",
        "mode": "simulate: 4 objects x 10 rows",
        "parameters": PARAMETERS,
        "started_at": T0,
        "finished_at": T0 + 40,
        "timed_out": False,
        "interval_s": 10,
        "timeout_s": 600,
        "log_group": "/aws/lambda/sluice-ProcessObject",
    }
    values.update(overrides)
    return RunInfo(**values)


def run_objects() -> list[RunObject]:
    return [
        RunObject("a.csv", T0, rows=10, broken=False),
        RunObject("b.csv", T0 + 1, rows=10, broken=False),
        RunObject("c.csv", T0 + 2, rows=10, broken=False),
        RunObject("bad.csv", T0 + 3, rows=0, broken=True),
    ]


def finished_accounting() -> Accounting:
    accounting = Accounting(run_objects())
    accounting.record(Ending("a.csv", "processed", T0 + 10, rows=10))
    accounting.record(Ending("b.csv", "processed", T0 + 21, rows=10))
    accounting.record(Ending("c.csv", "processed", T0 + 32, rows=10))
    accounting.record(Ending("bad.csv", "dead-lettered", None, reason="NotCsv"))
    return accounting


def samples() -> list[Sample]:
    # 0-10 s: 4 in flight (at the limit) with a backlog; 10-20 s: 2; 20-30 s: 0, drained.
    return [
        Sample(T0 + 0, snap(visible=6, in_flight_=4, concurrency=4, rows_per_s=30), 0),
        Sample(T0 + 10, snap(visible=1, in_flight_=2, concurrency=2, rows_per_s=12), 1),
        Sample(T0 + 20, snap(visible=0, in_flight_=0, concurrency=0, rows_per_s=0), 3),
        Sample(T0 + 30, snap(visible=0, in_flight_=0, concurrency=0, rows_per_s=0), 4),
    ]


def test_percentile_is_nearest_rank_and_none_for_no_values() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50
    assert percentile(values, 95) == 95
    assert percentile(values, 100) == 100
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) is None


def test_a_dead_letter_wins_over_a_processed_line_and_the_first_processed_time_is_kept() -> None:
    accounting = Accounting([RunObject("k", T0), RunObject("rows-failed", T0)])
    accounting.record(Ending("k", "processed", T0 + 5))
    accounting.record(Ending("k", "processed", T0 + 9))  # a redelivery processed it again
    accounting.record(Ending("rows-failed", "processed", T0 + 4))
    accounting.record(Ending("rows-failed", "dead-lettered", None, reason="RowsFailed"))
    assert accounting.endings["k"].ended_at == T0 + 5
    assert accounting.seconds_to_processed() == [5.0]
    assert accounting.dead_letters_by_reason() == {"RowsFailed": 1}
    assert accounting.complete


def test_unaccounted_objects_are_listed() -> None:
    accounting = Accounting(run_objects())
    accounting.record(Ending("a.csv", "processed", T0 + 3))
    assert [o.key for o in accounting.unaccounted] == ["b.csv", "c.csv", "bad.csv"]
    assert not accounting.complete


def test_flatten_joins_nested_keys_and_lists() -> None:
    flat = flatten(snap(visible=3, alarms=["QueueDepth", "Errors"]))
    assert flat["queues.ObjectQueue.visible"] == 3
    assert flat["alarms_in_alarm"] == "QueueDepth;Errors"
    # An empty mapping adds no column; a reason that appears later gets its own.
    assert not any(k.startswith("dead_letters.by_error") for k in flat)
    later = snap()
    later["dead_letters"]["by_error"] = {"NotCsv": 2}
    assert flatten(later)["dead_letters.by_error.NotCsv"] == 2


def test_csv_has_one_row_per_sample_and_a_column_for_a_field_only_later_samples_have() -> None:
    later = snap(visible=2)
    later["downstream"]["in_flight"] = 3
    rows_in = [Sample(T0, snap(visible=5), 0), Sample(T0 + 5, later, 2)]
    header, rows = csv_rows(rows_in, started_at=T0)
    assert header[:3] == ["sampled_at", "elapsed_s", "objects_ended"]
    assert len(rows) == 2 and all(len(r) == len(header) for r in rows)
    column = header.index("downstream.in_flight")
    assert rows[0][column] == "" and rows[1][column] == 3
    assert rows[1][:3] == ["2025-12-01T03:00:05Z", 5.0, 2]
    # Round trip through the csv module: what samples.csv holds reads back the same.
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header, *rows])
    assert list(csv.reader(io.StringIO(buffer.getvalue())))[2][column] == "3"


def test_in_flight_prefers_the_monitors_downstream_figure() -> None:
    only_concurrency = snap(concurrency=3)
    assert in_flight(only_concurrency) == 3
    with_downstream = snap(concurrency=3)
    with_downstream["downstream"]["in_flight"] = 2
    assert in_flight(with_downstream) == 2
    assert in_flight(snap(concurrency=None)) is None


def test_figures_of_a_finished_run() -> None:
    figures = build_figures(info(), samples(), finished_accounting())
    assert (figures.uploaded, figures.processed, figures.dead_lettered) == (4, 3, 1)
    assert figures.unaccounted == []
    assert figures.dead_letters_by_reason == {"NotCsv": 1}
    assert (figures.seconds_p50, figures.seconds_p95, figures.seconds_max) == (20.0, 30.0, 30.0)
    # 4 objects ended between the first upload (T0) and the last end (T0 + 32).
    assert figures.objects_per_s == pytest.approx(4 / 32)
    assert figures.rows_processed == 30
    assert figures.rows_per_s == pytest.approx(30 / 32)
    assert figures.limit == 4 and figures.peak_in_flight == 4
    # No invocation logged its duration: the monitor's samples. At the limit for 10 of 30
    # sampled seconds; while a backlog waited (0-20 s), 4 then 2 of 4.
    assert figures.share_at_limit == pytest.approx(10 / 30)
    assert figures.utilization == pytest.approx((10 * 1.0 + 10 * 0.5) / 20)
    assert figures.broken_uploaded == 1


def test_goals_say_what_was_met_and_where_each_goal_comes_from() -> None:
    figures = build_figures(info(), samples(), finished_accounting())
    by_name = {g.name: g for g in goals(figures, PARAMETERS)}
    assert by_name["every object accounted for"].met is True
    assert by_name["dead letters are the broken objects"].met is True
    assert by_name["peak downstream calls in flight / MaxConcurrency"].met is True
    assert by_name["utilization while objects were processed"].met is False  # 0.75 < 0.95
    assert by_name["ProcessObject throttles"].met is True
    assert by_name["downstream failure rate"].met is True
    assert "AlarmDownstreamFailureRate" in by_name["downstream failure rate"].source
    assert all(g.source for g in by_name.values())


def test_peak_over_the_limit_and_throttles_are_not_met() -> None:
    over = [
        Sample(T0, snap(visible=3, concurrency=5, throttles=2), 0),
        Sample(T0 + 5, snap(), 4),
    ]
    by_name = {g.name: g for g in goals(build_figures(info(), over, finished_accounting()), {})}
    assert by_name["peak downstream calls in flight / MaxConcurrency"].met is False
    assert by_name["ProcessObject throttles"].met is False


def test_report_of_a_timed_out_run_says_incomplete_and_lists_the_unaccounted() -> None:
    accounting = Accounting(run_objects())
    accounting.record(Ending("a.csv", "processed", T0 + 10, rows=10))
    run = info(timed_out=True)
    figures = build_figures(run, samples(), accounting)
    text = render_report(run, figures, goals(figures, PARAMETERS), {"Queue": "queue.png"})
    assert "**INCOMPLETE**" in text
    assert "## Unaccounted objects" in text and "`bad.csv`" in text
    assert "| every object accounted for |" in text and "**not met**" in text
    assert "![Queue](queue.png)" in text


def test_report_of_a_finished_run_states_figures_goals_and_the_run() -> None:
    run = info()
    figures = build_figures(run, samples(), finished_accounting())
    text = render_report(run, figures, goals(figures, PARAMETERS), {})
    assert "Complete: every object" in text
    assert "| processed | 3 |" in text and "| dead-lettered | 1 |" in text
    assert "| NotCsv | 1 |" in text
    assert "20.0 s / 30.0 s / 30.0 s" in text
    assert "| share of time at MaxConcurrency | 0.33 |" in text
    for fact in ("20251201T030000Z-ab12", "http://127.0.0.1:4566", "2025-12-01T03:00:00Z"):
        assert fact in text
    assert "| MaxConcurrency | `4` |" in text  # the parameters table
    assert "<details><summary>Every parameter of the stack</summary>" in text


def test_a_key_with_a_pipe_does_not_break_the_markdown_table() -> None:
    accounting = Accounting([RunObject("a|b.csv", T0)])
    accounting.record(Ending("a|b.csv", "dead-lettered", None, reason="Not|Csv"))
    figures = build_figures(info(), [], accounting)
    text = render_report(info(), figures, goals(figures, {}), {})
    assert "| Not\\|Csv | 1 |" in text


def _png(path: Path) -> tuple[int, int]:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        return image.size


def test_plots_are_valid_pngs_of_the_set_size(tmp_path: Path) -> None:
    accounting = finished_accounting()
    accounting.invocations += [(T0 + 1, T0 + 10), (T0 + 2, T0 + 21), (T0 + 12, T0 + 32)]
    written = plots.write_plots(samples(), T0, 4, accounting, tmp_path, rows_bin_s=5)
    assert set(written.values()) == {
        "queue_depth.png",
        "rows_per_s.png",
        "in_flight.png",
        "time_per_object.png",
    }
    expected = (round(plots.SIZE_INCHES[0] * plots.DPI), round(plots.SIZE_INCHES[1] * plots.DPI))
    for name in written.values():
        assert _png(tmp_path / name) == expected


def test_plots_without_data_still_draw_and_leave_pyplot_alone(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    written = plots.write_plots([], T0, None, Accounting([]), tmp_path, rows_bin_s=5)
    assert len(written) == 4
    for name in written.values():
        assert _png(tmp_path / name)[0] > 0
    assert plt.get_fignums() == before


def test_running_counts_overlapping_invocations_and_back_to_back_ones_once() -> None:
    steps = running([(0.0, 4.0), (1.0, 3.0), (4.0, 6.0)])
    assert steps == [(0.0, 1), (1.0, 2), (3.0, 1), (4.0, 1), (6.0, 0)]
    assert running([]) == []


def test_figures_prefer_invocations_from_the_log_lines_to_the_monitors_minutes() -> None:
    accounting = finished_accounting()
    # Two slots of four busy for 0-10 s, one for 10-20 s: 10 s at 2, 10 s at 1 of limit 4.
    for start, end in [(T0, T0 + 10), (T0, T0 + 20)]:
        accounting.invocations.append((start, end))
    figures = build_figures(info(), samples(), accounting)
    assert figures.in_flight_source.startswith("ProcessObject invocations running")
    assert figures.peak_in_flight == 2
    assert figures.share_at_limit == 0.0
    assert figures.utilization == pytest.approx((10 * 2 + 10 * 1) / 4 / 20)


def test_an_invocation_that_finishes_an_object_ends_it_and_an_unfinished_one_does_not() -> None:
    accounting = Accounting([RunObject("k", T0, rows=None)])
    accounting.record_invocation(Invocation("k", False, T0 + 5, seconds=5.0))
    assert not accounting.complete
    accounting.record_invocation(Invocation("k", True, T0 + 9, seconds=3.0, rows=40))
    assert accounting.complete
    assert accounting.invocations == [(T0, T0 + 5), (T0 + 6, T0 + 9)]
    assert accounting.rows_ended() == [(T0 + 9, 40)]


def test_rate_per_bin_includes_empty_bins() -> None:
    events = [(T0 + 1, 10), (T0 + 2, 10), (T0 + 11, 5)]
    assert rate_per_bin(events, T0, 5.0) == [(0.0, 4.0), (5.0, 0.0), (10.0, 1.0)]
    assert rate_per_bin([], T0, 5.0) == []


def test_why_a_figure_is_missing_goes_to_the_report_not_to_every_csv_row() -> None:
    gap = snap(concurrency=None)
    gap["unavailable"] = {"process_object.concurrency": "no AWS/Lambda ConcurrentExecutions"}
    rows_in = [Sample(T0, gap, 0)]
    header, _ = csv_rows(rows_in, started_at=T0)
    assert not any(c.startswith("unavailable") for c in header)
    figures = build_figures(info(), rows_in, finished_accounting())
    text = render_report(info(), figures, goals(figures, PARAMETERS), {})
    assert "| process_object.concurrency | no AWS/Lambda ConcurrentExecutions |" in text


def test_report_of_an_interrupted_run_says_so() -> None:
    accounting = Accounting(run_objects())
    run = info(timed_out=True, interrupted=True)
    figures = build_figures(run, [], accounting)
    text = render_report(run, figures, goals(figures, PARAMETERS), {})
    assert "**INCOMPLETE**: interrupted after 40 s with 4 of 4 objects" in text
