"""Resuming a CSV object at a record boundary (issue 16 item 3): the offsets reported, and what
reading on from them gives, at the edges. The property over generated input (resumed at every
boundary = straight through) is in test_parsing_properties.py."""

from __future__ import annotations

import gzip

import pytest

from csv_rows import CsvLimits, CsvReader, Resume, Row, RowError, read_rows
from sluice_common.errors import NotCsv
from sluice_local.jobs.generated import Trickle

LABEL = "s3://b/k.csv"


def straight(data: bytes, limits: CsvLimits | None = None) -> list[tuple[object, Resume]]:
    """Each item with the position after it, the first paired with None (after the header)."""
    reader = CsvReader(Trickle(data, 1 << 20), label=LABEL, limits=limits)
    out: list[tuple[object, Resume]] = [(None, reader.position)]
    out += [(item, reader.position) for item in reader]
    return out


def resumed(
    data: bytes, at: Resume, step: int = 1 << 20, limits: CsvLimits | None = None
) -> list[Row | RowError]:
    rest = Trickle(data[at.offset :], step)
    return list(CsvReader(rest, label=LABEL, limits=limits, resume=at))


@pytest.mark.parametrize("step", [1, 2, 7, 1 << 20])
def test_resuming_right_after_the_header_reads_every_row(step: int) -> None:
    data = b"id,name\n1,ada\n2,grace\n"
    [(_, after_header), *_] = straight(data)
    assert after_header == Resume(offset=8, row=0, line=1, header=("id", "name"))
    assert resumed(data, after_header, step) == list(read_rows(Trickle(data, step)))


@pytest.mark.parametrize("step", [1, 1 << 20])
def test_resuming_at_the_end_reads_nothing_and_stays_there(step: int) -> None:
    data = b"id\n1\n\n\n"  # trailing blank lines: the last position is past them
    last_row, after_row = straight(data)[-1]
    assert last_row == (1, {"id": "1"}) and after_row.offset == 5
    end = Resume(offset=len(data), row=1, line=4, header=("id",))
    reader = CsvReader(Trickle(b"", step), label=LABEL, resume=end)  # no EmptyObject
    assert list(reader) == [] and reader.position == end
    reader = CsvReader(Trickle(data[5:], step), label=LABEL, resume=after_row)
    assert list(reader) == [] and reader.position == end  # the blank lines read, no rows


def test_offsets_count_the_bom_and_crlf_and_resuming_reads_no_bom_or_header() -> None:
    data = b'\xef\xbb\xbfid,name\r\n1,"a, b"\r\n\r\n2,b\r\n'
    positions = [position for _, position in straight(data)]
    assert [(p.offset, p.row, p.line) for p in positions] == [
        (3 + 9, 0, 1),  # the BOM's 3 bytes, "id,name\r\n"
        (12 + 10, 1, 2),
        (22 + 2 + 5, 2, 4),  # the blank line is read with row 2
    ]
    assert resumed(data, positions[1], step=1) == [(2, {"id": "2", "name": "b"})]
    # Resumed, the first line is data, even if it starts with what would be a BOM.
    assert list(CsvReader(Trickle(b"\xef\xbb\xbf3,c\n", 1), resume=positions[2])) == [
        (3, {"id": "\ufeff3", "name": "c"})
    ]


@pytest.mark.parametrize("step", [1, 3, 1 << 20])
def test_a_quoted_line_break_in_the_record_before_is_one_record_and_lines_count_on(
    step: int,
) -> None:
    data = b'id,note\r\n1,"a\r\nb"\r\n2,"c\r\nd\r\ne"\r\n3\r\n4,"f\r\ng"'
    items = straight(data)
    after_1, after_2 = items[1][1], items[2][1]
    assert (after_1.offset, after_1.line) == (len(b'id,note\r\n1,"a\r\nb"\r\n'), 3)
    assert (after_2.offset, after_2.line) == (after_1.offset + len(b'2,"c\r\nd\r\ne"\r\n'), 6)
    expected = [
        (2, {"id": "2", "note": "c\r\nd\r\ne"}),
        RowError(3, "row has 1 fields, the header has 2 (line 7)"),
        (4, {"id": "4", "note": "f\r\ng"}),
    ]
    assert resumed(data, after_1, step) == expected
    assert resumed(data, after_2, step) == expected[1:]
    assert items[-1][1].offset == len(data)  # no newline at the end: the end of the data


def test_an_over_long_line_counts_every_byte_of_it_skipped() -> None:
    limits = CsvLimits(max_record_bytes=16)
    data = b"a,b\n1,2\n3," + b"x" * 100 + b"\r\n4,\xe9\n5,6\n"
    items = straight(data, limits)
    skipped, after_skipped = items[2]
    assert skipped == RowError(
        2,
        "unreadable CSV at line 3: the record at line 3 is over 16 bytes"
        " (CsvMaxRecordBytes; raise it with --parameter-overrides CsvMaxRecordBytes=...):"
        " skipped",
    )
    assert after_skipped.offset == data.index(b"4,")
    bad, after_bad = items[3]
    assert isinstance(bad, RowError) and bad.error.startswith("unreadable CSV at line 4")
    assert after_bad.offset == data.index(b"5,")
    for step in (1, 5):
        assert resumed(data, after_skipped, step, limits) == [bad, (4, {"a": "5", "b": "6"})]


def test_a_record_lost_after_resuming_names_its_lines_in_the_whole_object() -> None:
    limits = CsvLimits(max_record_bytes=16)
    data = b"a\n1\n" + b'"' + b"w\n" * 20 + b'"\n'
    with pytest.raises(NotCsv) as straight_through:
        list(read_rows(Trickle(data, 1 << 20), label=LABEL, limits=limits))
    after_1 = straight(b"a\n1\n", limits)[1][1]
    with pytest.raises(NotCsv) as after_resuming:
        resumed(data, after_1, 1, limits)
    assert str(after_resuming.value) == str(straight_through.value)
    assert str(after_resuming.value).startswith(
        f"{LABEL}: the record from line 3 is still open (a quoted line break) at line 10 and"
        " over 16 bytes"
    )


def test_a_resumed_body_is_not_sniffed() -> None:
    at = Resume(offset=100, row=4, line=9, header=("a",))
    assert list(CsvReader(Trickle(b"\x00x\n", 1), resume=at)) == [(5, {"a": "\x00x"})]
    assert list(CsvReader(Trickle(b"\x1f\x8b\n", 1), resume=at)) == [
        RowError(
            5,
            "unreadable CSV at line 10: line 10 is not valid UTF-8 (byte 0x8b at offset 1):"
            " save the file as UTF-8",
        )
    ]


def test_an_object_without_a_header_has_a_position_and_nothing_to_resume() -> None:
    reader = CsvReader(Trickle(b"\n\r\n", 1))
    assert reader.position == Resume(offset=3, row=0, line=2, header=())
    assert list(reader) == []
    assert list(CsvReader(Trickle(b"1,2\n", 1), resume=reader.position)) == []


@pytest.mark.parametrize("step", [1, 7, 1 << 20])
def test_a_gzip_object_reports_decompressed_offsets_and_skips_to_one(step: int) -> None:
    plain = b'\xef\xbb\xbfid,name\r\n1,"a\r\nb"\r\n2,caf\xc3\xa9\r\n3,x\r\n'
    data = gzip.compress(plain, mtime=0)
    reader = CsvReader(Trickle(data, step), label=LABEL)
    assert reader.compressed
    positions = [reader.position] + [reader.position for _ in reader]
    assert [p.offset for p in positions] == [12, 12 + 10, 22 + 9, 31 + 5]
    assert positions[-1].offset == len(plain)
    assert not CsvReader(Trickle(plain, step)).compressed
    again = CsvReader(Trickle(data, step), label=LABEL, skip_to=positions[2])
    assert again.position == positions[2]
    assert list(again) == [(3, {"id": "3", "name": "x"})]
    assert again.position == positions[3]
    assert list(CsvReader(Trickle(data, step), skip_to=positions[3])) == []
    # A plain object can be read again and skipped too (when a ranged GET is not wanted).
    assert list(CsvReader(Trickle(plain, step), skip_to=positions[2])) == [
        (3, {"id": "3", "name": "x"})
    ]


def test_a_gzip_object_skipped_to_each_position_reads_on_from_there() -> None:
    plain = b"id,name\n" + b"".join(b'%d,"n\r\n%d"\n' % (n, n) for n in range(1, 9))
    data = gzip.compress(plain)
    reader = CsvReader(Trickle(data, 3))
    positions = [reader.position]
    items = []
    for item in reader:
        items.append(item)
        positions.append(reader.position)
    assert len(items) == 8 and positions[-1] == Resume(len(plain), 8, 17, ("id", "name"))
    for done, position in enumerate(positions):
        again = CsvReader(Trickle(data, 3), skip_to=position)
        assert again.position == position
        assert list(again) == items[done:]


@pytest.mark.parametrize(
    ("checkpoint", "message"),
    [
        (Resume(23, 1, 3, ("id", "other")), "the header differs"),
        (
            Resume(10, 0, 1, ("id", "name")),
            "its header ends at byte 12 (line 1), after the checkpoint's byte 10 (line 1)",
        ),
        (Resume(99, 5, 9, ("id", "name")), "it ends at byte 36, before the checkpoint's byte 99"),
        (Resume(25, 1, 3, ("id", "name")), "byte 25 is not the end of a line"),
    ],
)
def test_skipping_to_a_checkpoint_the_object_does_not_match_is_refused(
    checkpoint: Resume, message: str
) -> None:
    plain = b'\xef\xbb\xbfid,name\r\n1,"a\r\nb"\r\n2,caf\xc3\xa9\r\n3,x\r\n'
    with pytest.raises(NotCsv) as raised:
        CsvReader(Trickle(gzip.compress(plain), 5), label=LABEL, skip_to=checkpoint)
    assert str(raised.value) == f"{LABEL} does not match its checkpoint (changed since?): {message}"


def test_a_resume_point_is_checked_and_its_header_kept_as_a_tuple() -> None:
    at = Resume(offset=8, row=0, line=1, header=["id", "name"])  # type: ignore[arg-type]
    assert at.header == ("id", "name") and at == Resume(8, 0, 1, ("id", "name"))
    with pytest.raises(ValueError, match="counts from 0"):
        Resume(offset=-1, row=0, line=1, header=("id",))
    with pytest.raises(ValueError, match="not both"):
        CsvReader(Trickle(b"", 1), resume=at, skip_to=at)


def test_read_rows_reads_nothing_until_asked() -> None:
    class Unread:
        def read(self, amt: int | None = None, /) -> bytes:
            raise AssertionError("read before the first row was asked for")

    rows = read_rows(Unread())
    with pytest.raises(AssertionError, match="before the first row"):
        next(rows)
