"""Properties of the handler's parsing over generated input: whatever arrives, the only
exceptions that escape are Sluice's typed errors (which the drain dead-letters with a reason),
and every row read is either sent or listed as failed.

Case counts come from the hypothesis profile (tests/conftest.py): a few hundred per property in
`make test`, 10,000 in `make test-long`.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import itertools
import json
from collections.abc import Mapping
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from csv_rows import CsvLimits, CsvReader, Resume, Row, RowError, read_rows
from downstream import DownstreamResponse, RetryPolicy
from object_processor import process_object
from sluice_common.errors import SluiceError
from sluice_common.events import ObjectRef, parse_object_ref
from sluice_local.jobs.generated import MemoryS3, Trickle

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
keys = st.text(max_size=40)  # any unicode: spaces, '+', '%', ':', '/', control characters
fields = {
    "bucket": st.one_of(st.text(max_size=20), json_values),
    "key": st.one_of(keys, json_values),
    "version_id": st.one_of(st.none(), st.text(max_size=10), json_values),
    "etag": st.one_of(st.none(), st.text(max_size=10)),
    "size": st.one_of(st.none(), st.integers(), st.text(max_size=5)),
}
s3_details = st.fixed_dictionaries({}, optional=fields).map(lambda d: {"s3_details": d})
eventbridge = st.fixed_dictionaries(
    {},
    optional={
        "source": st.sampled_from(["aws.s3", "aws.sqs", ""]),
        "detail-type": st.sampled_from(["Object Created", "Object Deleted", ""]),
        "detail": st.one_of(
            json_values,
            st.fixed_dictionaries(
                {},
                optional={
                    "bucket": st.one_of(json_values, st.fixed_dictionaries({"name": st.text()})),
                    "object": st.one_of(
                        json_values,
                        st.fixed_dictionaries(
                            {},
                            optional={
                                "key": st.one_of(keys, json_values),
                                "size": json_values,
                                "etag": json_values,
                                "version-id": json_values,
                            },
                        ),
                    ),
                },
            ),
        ),
    },
)


@given(st.one_of(json_values, s3_details, eventbridge))
def test_any_event_gives_an_object_or_a_typed_error(event: Any) -> None:
    try:
        ref = parse_object_ref(event)
    except SluiceError as exc:
        assert str(exc)  # a reason a person can act on
    else:
        assert isinstance(ref, ObjectRef) and ref.bucket and ref.key


cell = st.text(max_size=8) | st.sampled_from(['"', '""', ",", "\n", "\r\n", "\ufeff", "\x00"])
csv_text = st.lists(st.lists(cell, max_size=5), max_size=8).map(
    lambda rows: "\n".join(",".join(row) for row in rows)
)
objects = st.one_of(
    st.binary(max_size=300),
    csv_text.map(lambda text: text.encode("utf-8")),
    csv_text.map(lambda text: ("\ufeff" + text).encode("utf-8")),
    csv_text.map(lambda text: text.encode("latin-1", errors="replace")),
    csv_text.map(lambda text: gzip.compress(text.encode("utf-8"))),
    st.binary(max_size=200).map(lambda raw: gzip.compress(raw)[: max(2, len(raw) // 2)]),
)


@given(objects, st.integers(min_value=1, max_value=64))
def test_any_bytes_give_rows_row_errors_or_a_typed_error(data: bytes, step: int) -> None:
    numbers = []
    try:
        for item in read_rows(Trickle(data, step), label="s3://b/k"):
            if isinstance(item, RowError):
                numbers.append(item.row)
                assert item.error
            else:
                number, row = item
                numbers.append(number)
                assert all(isinstance(v, str) for v in row.values())
    except SluiceError as exc:
        assert str(exc)
    assert numbers == list(range(1, len(numbers) + 1))  # every row accounted for, in order


class Flaky:
    """Accepts, refuses for good (422) or asks for a retry (503), by the row's content."""

    request_timeout_s = 0.0  # answers at once

    def post(self, body: bytes, headers: Mapping[str, str]) -> DownstreamResponse:
        verdict = len(json.loads(body)["data"]) + len(body)
        return DownstreamResponse((200, 200, 422, 503)[verdict % 4])


@given(objects)
def test_the_processor_sends_or_lists_every_row_it_reads(data: bytes) -> None:
    policy = RetryPolicy(max_attempts=2, base_s=0, cap_s=0)
    try:
        summary = process_object(
            MemoryS3(data), Flaky(), ObjectRef("b", "k.csv"), policy, sleep=lambda _: None
        )
    except SluiceError as exc:
        assert str(exc)
    else:
        assert summary.rows_read == summary.rows_sent + summary.rows_failed
        assert len(summary.failed_rows) == min(summary.rows_failed, 20)


# Resuming (issue 16 item 3): a reader stopped after any item and resumed from its position
# (a ranged GET of the rest, or for gzip the whole object again, skipped to it) reads on
# exactly as a straight pass would: the same rows, error rows, numbers and messages.
def _record(fields: list[str], terminator: str) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator=terminator).writerow(fields)
    return out.getvalue().encode("utf-8")


field = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=6
) | st.sampled_from(["a\r\nb", "x\ny", 'say "hi"', "", ",", "\r", "\ufeff"])
record_lines = st.builds(
    _record, st.lists(field, min_size=1, max_size=3), st.sampled_from(["\n", "\r\n"])
)
broken_lines = st.sampled_from(
    [
        b"\n",  # blank
        b"\r\n",  # blank
        b"caf\xe9,1\n",  # not UTF-8
        b'"open, quote\n',  # runs on into the next lines
        b"a\rb,c\n",  # a bare CR in an unquoted field
        b'1,"q"x\n',  # text after a closing quote
        b"y" * 40 + b"\r\n",  # over the small record cap below: skipped
        b"z," * 70 + b"z\n",  # the same, by more than a chunk of the 1-byte reads
        b'"' + b"w\r\n" * 12 + b'"\n',  # a quoted field over the small cap: the record is lost
        b"\xef\xbb\xbfbom,mid\n",  # a BOM not at the start is data
    ]
)


def structured_csv(bom: bool, newline_at_end: bool) -> st.SearchStrategy[bytes]:
    lines = st.lists(record_lines | broken_lines, max_size=16).map(b"".join)
    return st.builds(
        lambda header, body: (
            (codecs.BOM_UTF8 if bom else b"")
            + header
            + (body if newline_at_end else body.rstrip(b"\r\n"))
        ),
        # A header that reads, so these get as far as the rows (csv_text's often do not).
        st.sampled_from([b"id,name\n", b"a,b,c\r\n", b'"two\r\nlines",x\n', b"k\n"]),
        lines,
    )


# Half structured (one branch each, as one_of picks a branch uniformly), half anything.
plain_objects = st.one_of(
    structured_csv(bom=False, newline_at_end=True),
    structured_csv(bom=True, newline_at_end=True),
    structured_csv(bom=False, newline_at_end=False),
    structured_csv(bom=True, newline_at_end=False),
    csv_text.map(lambda text: text.encode("utf-8")),
    csv_text.map(lambda text: ("\ufeff" + text).encode("utf-8")),
    csv_text.map(lambda text: text.encode("latin-1", errors="replace")),
    st.binary(max_size=200),
)
# The small cap puts over-long lines (skipped, their bytes counted) and lost records in reach.
csv_limits = st.sampled_from(
    [CsvLimits(), CsvLimits(max_record_bytes=32), CsvLimits(max_record_bytes=48)]
)
# Every kind of line at once, so each run checks them whatever hypothesis draws.
EVERY_KIND = b"".join(
    [
        b'\xef\xbb\xbfid,"note"\r\n',  # a BOM, CRLF
        b'1,"two\r\nlines"\r\n\r\n',  # a quoted line break, a blank line
        b"2,caf\xe9\n3\n",  # not UTF-8, ragged
        b"4," + b"y" * 40 + b"\r\n",  # over the small cap: skipped
        b'5,"""q"""\n\n',
        b'6,"' + b"w\r\n" * 12 + b'"\n',  # over the small cap inside quotes: the record is lost
        b"7,end",
    ]
)
Outcome = tuple[list[Row | RowError], list[Resume], str | None]


def read_through(reader: CsvReader) -> Outcome:
    """Items, the position before the first and after each, and the error that stopped it."""
    items: list[Row | RowError] = []
    positions = [reader.position]
    try:
        for item in reader:
            items.append(item)
            positions.append(reader.position)
    except SluiceError as exc:
        return items, positions, f"{type(exc).__name__}: {exc}"
    return items, positions, None


def assert_record_boundaries(data: bytes, positions: list[Resume], end: Resume | None) -> None:
    """Each position is just past a line (or at the end), further on than the one before, and
    counts one more row; ``end`` (after the last item, when nothing stopped the reader) is the
    end of the data."""
    offsets = [p.offset for p in positions]
    assert all(a < b for a, b in itertools.pairwise(offsets)), offsets
    assert all(a.line < b.line for a, b in itertools.pairwise(positions)), positions
    for offset in offsets:
        assert offset == len(data) or data[:offset].endswith(b"\n"), (offset, data)
    assert [p.row for p in positions] == list(range(len(positions)))
    if end is not None:
        assert offsets[-1] <= end.offset == len(data)


@given(plain_objects, csv_limits, st.integers(min_value=1, max_value=64))
@example(EVERY_KIND, CsvLimits(max_record_bytes=32), 1)
@example(EVERY_KIND, CsvLimits(max_record_bytes=32), 64)
@example(EVERY_KIND, CsvLimits(), 7)
def test_reading_resumed_at_any_record_boundary_equals_reading_straight_through(
    data: bytes, limits: CsvLimits, step: int
) -> None:
    try:
        reader = CsvReader(Trickle(data, step), label="s3://b/k", limits=limits)
    except SluiceError:
        return  # the object as a whole is refused on the first read: nothing to resume
    assert not reader.compressed
    items, positions, error = read_through(reader)
    assert_record_boundaries(data, positions, None if error else reader.position)
    for done, position in enumerate(positions):
        rest = Trickle(data[position.offset :], step)
        resumed = CsvReader(rest, label="s3://b/k", limits=limits, resume=position)
        more, later_positions, later_error = read_through(resumed)
        assert items[:done] + more == items
        assert later_positions == positions[done:]
        assert later_error == error


@given(plain_objects, csv_limits, st.integers(min_value=1, max_value=64))
@example(EVERY_KIND, CsvLimits(max_record_bytes=32), 1)
@example(EVERY_KIND, CsvLimits(), 64)
def test_a_gzip_object_skipped_to_any_record_boundary_reads_on_as_straight_through(
    plain: bytes, limits: CsvLimits, step: int
) -> None:
    data = gzip.compress(plain, mtime=0)
    try:
        reader = CsvReader(Trickle(data, step), label="s3://b/k.gz", limits=limits)
    except SluiceError:
        return
    assert reader.compressed
    items, positions, error = read_through(reader)
    # Offsets in the decompressed stream.
    assert_record_boundaries(plain, positions, None if error else reader.position)
    for done, position in enumerate(positions):
        again = CsvReader(Trickle(data, step), label="s3://b/k.gz", limits=limits, skip_to=position)
        more, later_positions, later_error = read_through(again)
        assert items[:done] + more == items
        assert later_positions == positions[done:]
        assert later_error == error
