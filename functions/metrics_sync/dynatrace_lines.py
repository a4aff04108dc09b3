"""Dynatrace metric line protocol: ``key,dim="value" payload timestamp``.

Counts are written as ``count,delta=<Sum>`` and gauges as ``gauge,min=..,max=..,sum=..,count=..``
from Minimum/Maximum/Sum/SampleCount of the same minute (:func:`to_datapoints`,
:func:`format_line`); :func:`chunks` groups lines within Dynatrace's request limits.
"""

from __future__ import annotations

import math
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from dynatrace_fetch import Series
from sluice_common.metric_catalogue import GAUGE_STATS, STACK_DIMENSION, Kind, Metric

MAX_LINES_PER_REQUEST = 1000  # what Dynatrace's own exporters send per request
MAX_BODY_BYTES = 1_000_000  # the ingest API takes at most 1 MB per request
MAX_DIMENSION_VALUE = 250  # characters; longer values are cut


@dataclass(frozen=True)
class Datapoint:
    key: str
    dimensions: tuple[tuple[str, str], ...]
    payload: str
    timestamp_ms: int


def format_number(value: float) -> str:
    """Plain decimal notation, no exponent: ``3``, ``0.25``, ``0.00000001``."""
    if float(value).is_integer():
        return str(int(value))
    return format(Decimal(repr(float(value))), "f")


def count_payload(delta: float) -> str:
    return f"count,delta={format_number(delta)}"


def gauge_payload(minimum: float, maximum: float, total: float, count: int) -> str:
    return (
        f"gauge,min={format_number(minimum)},max={format_number(maximum)},"
        f"sum={format_number(total)},count={count}"
    )


def dimension_value(value: str) -> str:
    """A quoted dimension value: control characters (newlines!) become ``_``, at most 250
    characters, ``\\`` and ``"`` escaped with a backslash."""
    cleaned = "".join("_" if unicodedata.category(c)[0] == "C" else c for c in value)
    cleaned = cleaned[:MAX_DIMENSION_VALUE]
    return '"' + cleaned.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_line(point: Datapoint) -> str:
    dims = "".join(f",{k}={dimension_value(v)}" for k, v in point.dimensions if v)
    return f"{point.key}{dims} {point.payload} {point.timestamp_ms}"


def _finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


def to_datapoints(
    fetched: dict[str, list[tuple[datetime, float]]], series: dict[str, Series], stack: str
) -> list[Datapoint]:
    """One data point per metric, resource and minute that has data; counts from Sum, gauges
    from the four statistics of the same minute (skipped unless all four are there)."""
    minutes: dict[tuple[Metric, str], dict[int, dict[str, float]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for query_id, values in fetched.items():
        about = series.get(query_id)
        if about is None:
            continue
        for timestamp, value in values:
            ms = int(timestamp.timestamp() * 1000)
            minutes[(about.spec, about.dimension_value)][ms][about.stat] = float(value)
    points: list[Datapoint] = []
    for (spec, target), by_minute in minutes.items():
        dimensions = ((STACK_DIMENSION, stack), (spec.scope.value, target))
        for ms in sorted(by_minute):
            stats = by_minute[ms]
            if spec.kind is Kind.COUNT:
                if "Sum" not in stats or not _finite(stats["Sum"]):
                    continue
                payload = count_payload(stats["Sum"])
            else:
                if any(stat not in stats for stat in GAUGE_STATS):
                    continue
                low, high, total, samples = (stats[stat] for stat in GAUGE_STATS)
                if not _finite(low, high, total, samples) or round(samples) < 1 or low > high:
                    continue
                payload = gauge_payload(low, high, total, round(samples))
            points.append(Datapoint(spec.key, dimensions, payload, ms))
    return points


def chunks(
    lines: Iterable[str],
    max_lines: int = MAX_LINES_PER_REQUEST,
    max_bytes: int = MAX_BODY_BYTES,
) -> Iterator[list[str]]:
    """Lines grouped into request bodies of at most ``max_lines`` lines and ``max_bytes``."""
    chunk: list[str] = []
    size = 0
    for line in lines:
        length = len(line.encode()) + 1  # and its newline
        if length > max_bytes:
            raise ValueError(f"a line of {length} bytes exceeds the {max_bytes}-byte request limit")
        if chunk and (len(chunk) >= max_lines or size + length > max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append(line)
        size += length
    if chunk:
        yield chunk
