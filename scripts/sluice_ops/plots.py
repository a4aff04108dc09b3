"""`sluice perf`'s PNG plots, drawn with matplotlib's object API on the Agg canvas.

No pyplot: each plot is its own Figure on a FigureCanvasAgg, so nothing lingers in pyplot's global
figure registry and no GUI backend is ever chosen, whatever MPLBACKEND says.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from sluice_ops.perf_run import (
    RUNNING_SOURCE,
    Accounting,
    Sample,
    percentile,
    rate_per_bin,
    running,
)
from sluice_ops.perf_samples import QUEUE_NAMES, dig, in_flight, in_flight_source, number

SIZE_INCHES = (9.0, 4.8)
DPI = 110


def _figure(title: str) -> tuple[Figure, Axes]:
    figure = Figure(figsize=SIZE_INCHES, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    return figure, axes


def _save(figure: Figure, path: Path) -> Path:
    figure.savefig(path, format="png")
    return path


def _series(samples: Sequence[Sample], *path: str) -> list[float]:
    """Values at ``path`` in each sample; NaN where not reported (a gap in the line)."""
    return [v if (v := number(dig(s.snapshot, *path))) is not None else math.nan for s in samples]


def _elapsed(samples: Sequence[Sample], started_at: float) -> list[float]:
    return [s.at - started_at for s in samples]


def _no_data(axes: Axes, what: str) -> None:
    axes.text(0.5, 0.5, what, transform=axes.transAxes, ha="center", va="center", color="0.4")


def queue_depth_plot(samples: Sequence[Sample], started_at: float, path: Path) -> Path:
    figure, axes = _figure("Queue depth: ObjectQueue and PriorityQueue")
    x = _elapsed(samples, started_at)
    drawn = False
    for name in QUEUE_NAMES:
        for part, label, style in (
            ("visible", "waiting", "-"),
            ("in_flight", "in flight", "--"),
        ):
            y = _series(samples, "queues", name, part)
            if any(not math.isnan(v) for v in y):
                axes.plot(x, y, style, marker=".", label=f"{name} {label}")
                drawn = True
    axes.set_xlabel("time since start (s)")
    axes.set_xlim(0, _span(samples, started_at))
    axes.set_ylabel("messages")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylim(bottom=0)
    if drawn:
        axes.legend(loc="best")
    else:
        _no_data(axes, "the monitor reported no queue depth")
    return _save(figure, path)


def _span(samples: Sequence[Sample], started_at: float, *ends: float) -> float:
    """The run's length in seconds: the x axis of every time plot runs from 0 to it."""
    last = [s.at - started_at for s in samples] + [e - started_at for e in ends]
    return max([*last, 1.0])


def rows_per_second_plot(
    samples: Sequence[Sample],
    started_at: float,
    rows_ended: Sequence[tuple[float, int]],
    width_s: float,
    path: Path,
) -> Path:
    figure, axes = _figure("Rows per second")
    drawn = False
    bins = rate_per_bin(rows_ended, started_at, width_s)
    if bins:
        axes.bar(
            [start for start, _ in bins],
            [rate for _, rate in bins],
            width=width_s,
            align="edge",
            alpha=0.5,
            color="tab:green",
            label=f"rows of objects processed, per {width_s:g} s (ProcessObject log lines)",
        )
        drawn = True
    y = _series(samples, "rows_per_s")
    if any(not math.isnan(v) for v in y):
        axes.plot(
            _elapsed(samples, started_at),
            y,
            marker=".",
            label="RowsSent rate (monitor: CloudWatch, last 1-2 minutes)",
        )
        drawn = True
    if drawn:
        axes.legend(loc="best")
    else:
        _no_data(axes, "no rows/s: no object processed and no RowsSent metric")
    axes.set_xlabel("time since start (s)")
    axes.set_ylabel("rows per second")
    axes.set_xlim(0, _span(samples, started_at, *(t for t, _ in rows_ended)))
    axes.set_ylim(bottom=0)
    return _save(figure, path)


def in_flight_plot(
    samples: Sequence[Sample],
    started_at: float,
    limit: int | None,
    invocations: Sequence[tuple[float, float]],
    path: Path,
) -> Path:
    figure, axes = _figure("Downstream calls in flight against MaxConcurrency")
    steps = running(invocations)
    tops: list[float] = [float(limit or 0), 1.0]
    if steps:
        # From 0 before the first invocation, so the line starts on the axis.
        x = [0.0] + [at - started_at for at, _ in steps]
        y = [0] + [count for _, count in steps]
        axes.step(x, y, where="post", label=RUNNING_SOURCE)
        tops.append(max(y))
    concurrency = [v if (v := in_flight(s.snapshot)) is not None else math.nan for s in samples]
    if any(not math.isnan(v) for v in concurrency):
        axes.plot(
            _elapsed(samples, started_at),
            concurrency,
            "o",
            label=f"{in_flight_source(samples)} (monitor samples)",
        )
        tops += [v for v in concurrency if not math.isnan(v)]
    if limit is not None:
        axes.axhline(limit, color="tab:red", linestyle="--", label=f"MaxConcurrency = {limit}")
    if not steps and all(math.isnan(v) for v in concurrency):
        _no_data(axes, "no invocation logged its duration and the monitor had no concurrency")
    axes.set_ylim(0, max(tops) * 1.2 + 0.5)
    axes.set_xlim(0, _span(samples, started_at, *(end for _, end in invocations)))
    axes.set_xlabel("time since start (s)")
    axes.set_ylabel("calls in flight")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    if axes.get_legend_handles_labels()[0]:
        axes.legend(loc="best")
    return _save(figure, path)


def time_per_object_plot(seconds: Sequence[float], path: Path) -> Path:
    figure, axes = _figure("Time per object, upload to processed")
    if seconds:
        bins = min(30, max(5, len(seconds) // 3))
        axes.hist(seconds, bins=bins, color="tab:blue", alpha=0.8, label=f"{len(seconds)} objects")
        for p, style in ((50, "--"), (95, ":")):
            value = percentile(seconds, p)
            assert value is not None
            axes.axvline(value, color="tab:red", linestyle=style, label=f"p{p} {value:,.1f} s")
        axes.legend(loc="best")
    else:
        _no_data(axes, "no object was processed")
    axes.set_xlabel("seconds from upload to processed")
    axes.set_ylabel("objects")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    return _save(figure, path)


def write_plots(
    samples: Sequence[Sample],
    started_at: float,
    limit: int | None,
    accounting: Accounting,
    out_dir: Path,
    rows_bin_s: float,
) -> dict[str, str]:
    """Draw the four plots into ``out_dir``; title -> file name (for report.md)."""
    drawn = {
        "Queue depth over time": queue_depth_plot(samples, started_at, out_dir / "queue_depth.png"),
        "Rows/s over time": rows_per_second_plot(
            samples, started_at, accounting.rows_ended(), rows_bin_s, out_dir / "rows_per_s.png"
        ),
        "Downstream calls in flight against MaxConcurrency": in_flight_plot(
            samples, started_at, limit, accounting.invocations, out_dir / "in_flight.png"
        ),
        "Time per object (histogram)": time_per_object_plot(
            accounting.seconds_to_processed(), out_dir / "time_per_object.png"
        ),
    }
    return {title: path.name for title, path in drawn.items()}
