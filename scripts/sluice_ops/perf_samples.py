"""`sluice perf`'s samples: one ``sluice_ops.monitor.snapshot(ctx)`` each, the figures read
from them, and samples.csv (see :mod:`sluice_ops.perf_report`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sluice_ops.perf_run import Sample

QUEUE_NAMES = ("ObjectQueue", "PriorityQueue")
UNAVAILABLE = "unavailable"  # the monitor's map of null figures to the reason


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
