"""Metric line protocol: numbers, dimension values, what Dynatrace refuses, request chunks.

Lines are checked by the local Dynatrace's own parser (sluice_local.servers.dynatrace), not by
comparing strings with what the code under test was written to produce.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dynatrace_lines import Datapoint, chunks, format_line, format_number
from sluice_local.servers.dynatrace import LineError, parse_line

NOW_MS = int(datetime.now(UTC).timestamp()) // 60 * 60_000  # checked against the real clock


def point(**dims: str) -> Datapoint:
    dimensions = tuple({"stack": "sluice", **dims}.items())
    return Datapoint("sluice.rows.sent.count", dimensions, "count,delta=3", NOW_MS)


@pytest.mark.parametrize(
    ("value", "text"),
    [(3.0, "3"), (0.25, "0.25"), (1e-8, "0.00000001"), (1e20, "100000000000000000000"), (-2, "-2")],
)
def test_numbers_are_written_without_exponents(value: float, text: str) -> None:
    assert format_number(value) == text


# -- line protocol escaping ----------------------------------------------------------------------
# Each needs quoting or escaping in the line protocol (spaces, commas, quotes, "=", backslashes).
ODD_VALUES = 'with space|a,b|say "hi"|x=y|back\\slash|trailing\\|ünïcødé ✓ 日本|",= \\ all of them'


@pytest.mark.parametrize("value", ODD_VALUES.split("|"))
def test_odd_dimension_values_arrive_intact(value: str) -> None:
    line = format_line(point(queue=value))
    parsed = parse_line(line, NOW_MS)
    assert parsed.dimensions == {"stack": "sluice", "queue": value}
    assert parsed.payload == {"delta": 3.0}


def test_control_characters_become_underscores_and_long_values_are_cut() -> None:
    parsed = parse_line(format_line(point(queue="two\nlines\tand\x00nul")), NOW_MS)
    assert parsed.dimensions["queue"] == "two_lines_and_nul"
    parsed = parse_line(format_line(point(queue="é" * 300)), NOW_MS)
    assert parsed.dimensions["queue"] == "é" * 250


def test_the_local_parser_refuses_what_dynatrace_refuses() -> None:
    for bad, why in [
        ("1metric gauge,1", "metric key"),
        ("dt.mine gauge,1", "reserved"),
        ('sluice.x,Stack="a" gauge,1', "dimension key"),
        ('sluice.x,stack="a gauge,1', "not closed"),
        ("sluice.x count,5", "delta"),
        ("sluice.x gauge,min=1,max=0,sum=1,count=1", "greater"),
        ("sluice.x gauge,min=1,max=2,sum=1,count=0", "positive"),
        (f"sluice.x gauge,1 {NOW_MS - 3_700_000}", "hour"),
        ("sluice.x gauge,1 1705312800", "hour"),  # seconds, not milliseconds
        ("sluice.x", "payload"),
    ]:
        with pytest.raises(LineError, match=why):
            parse_line(bad, NOW_MS)
    unquoted = parse_line(r"sluice.x,queue=a\ b\,c gauge,2", NOW_MS)
    assert unquoted.dimensions == {"queue": "a b,c"}
    assert unquoted.payload == {"value": 2.0}


# -- chunking ------------------------------------------------------------------------------------
def test_chunks_respect_the_line_and_byte_limits() -> None:
    lines = [f'sluice.x,n="{n}" count,delta=1' for n in range(2500)]
    assert [len(c) for c in chunks(lines)] == [1000, 1000, 500]
    small = list(chunks(lines[:50], max_bytes=300))
    assert all(sum(len(x) + 1 for x in c) <= 300 for c in small)
    assert [x for c in small for x in c] == lines[:50]
    with pytest.raises(ValueError, match="exceeds"):
        list(chunks(["x" * 400], max_bytes=300))
