"""CSV streaming: encodings, quoting, bad rows reported, whole-object problems raised."""

from __future__ import annotations

import csv
import gzip
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from csv_rows import FIELD_LIMIT_BYTES, CsvLimits, RowError, read_rows
from sluice_common.errors import EmptyObject, NotCsv
from sluice_local.jobs.generated import GeneratedBody, Trickle


def rows_of(data: bytes, step: int = 1 << 20) -> list[object]:
    return list(read_rows(Trickle(data, step), label="s3://b/k.csv"))


def test_header_names_the_fields_and_rows_are_numbered_from_one() -> None:
    assert rows_of(b"id,name\n1,ada\n2,grace\n") == [
        (1, {"id": "1", "name": "ada"}),
        (2, {"id": "2", "name": "grace"}),
    ]


def test_bom_crlf_quotes_embedded_newlines_and_blank_lines() -> None:
    data = (
        '\ufeffid,"note, with comma"\r\n1,"said ""hi""\r\nover two lines"\r\n\r\n2,plain\r\n'
    ).encode()
    assert rows_of(data) == [
        (1, {"id": "1", "note, with comma": 'said "hi"\r\nover two lines'}),
        (2, {"id": "2", "note, with comma": "plain"}),
    ]


def test_ragged_rows_are_reported_and_reading_goes_on() -> None:
    items = rows_of(b"a,b\n1,2\n3\n4,5,6\n7,8\n")
    assert items[0] == (1, {"a": "1", "b": "2"})
    assert items[1] == RowError(2, "row has 1 fields, the header has 2 (line 3)")
    assert isinstance(items[2], RowError) and items[2].row == 3
    assert items[3] == (4, {"a": "7", "b": "8"})


def test_a_field_over_the_limit_is_a_row_error_not_a_memory_problem() -> None:
    huge = b"x" * (FIELD_LIMIT_BYTES + 10)
    items = rows_of(b"a,b\n1,2\n3," + huge + b"\n5,6\n", step=64 * 1024)
    assert items[0] == (1, {"a": "1", "b": "2"})
    assert isinstance(items[1], RowError)
    assert "field larger than field limit" in items[1].error
    assert items[-1] == (len(items), {"a": "5", "b": "6"})


def test_undecodable_and_over_long_lines_are_row_errors_and_reading_goes_on() -> None:
    record_cap = CsvLimits().max_record_bytes
    long_line = b"9," + b"y" * (record_cap + 5) + b"\n"
    items = rows_of(b"a,b\n1,caf\xe9\n" + long_line + "2,\u00e9t\u00e9\n".encode(), step=4096)
    assert items == [
        RowError(
            1,
            "unreadable CSV at line 2: line 2 is not valid UTF-8 (byte 0xe9 at offset 5):"
            " save the file as UTF-8",
        ),
        RowError(
            2,
            f"unreadable CSV at line 3: the record at line 3 is over {record_cap:,} bytes"
            " (CsvMaxRecordBytes; raise it with --parameter-overrides CsvMaxRecordBytes=...):"
            " skipped",
        ),
        (3, {"a": "2", "b": "\u00e9t\u00e9"}),
    ]


def test_the_bom_is_not_counted_against_the_record_cap_nor_cuts_the_line() -> None:
    limits = CsvLimits(max_record_bytes=8)
    bom = b"\xef\xbb\xbf"
    rows = list(read_rows(Trickle(bom + b"abcdefg\n1\n", 1), limits=limits))
    assert rows == [(1, {"abcdefg": "1"})]  # 8 bytes after the BOM: at the cap, not over it
    # One byte more is over the cap (it was cut after 9 bytes, BOM included, and read as two).
    with pytest.raises(NotCsv, match="header cannot be read: the record at line 1 is over 8"):
        list(read_rows(Trickle(bom + b"abcdefgh\n1\n", 1), limits=limits))


def test_header_only_object_has_no_rows() -> None:
    assert rows_of(b"a,b\n") == []
    assert rows_of(b"\n\n") == []


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (b"", EmptyObject, "s3://b/k.csv is empty (0 bytes)"),
        (b"PK\x03\x04\x00\x00zip", NotCsv, "looks binary (NUL byte"),
        (
            b"caf\xe9,b\n1,2\n",
            NotCsv,
            "header cannot be read: line 1 is not valid UTF-8 (byte 0xe9",
        ),
        (b"id,id\n1,2\n", NotCsv, "header repeats column(s) ['id']"),
        (gzip.compress(b"", mtime=0), EmptyObject, "gzip-compressed and empty inside"),
        (gzip.compress(b"\x00\x01binary", mtime=0), NotCsv, "looks binary (NUL byte"),
        (
            gzip.compress(b"id\n1\n2\n", mtime=0)[:-12],
            NotCsv,
            "gzip-compressed but the stream is broken",
        ),
    ],
)
def test_whole_object_problems_raise_a_typed_error_a_person_can_act_on(
    data: bytes, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as raised:
        rows_of(data)
    assert message in str(raised.value)


@pytest.mark.parametrize("step", [1, 7, 1 << 20])
def test_gzip_objects_are_decompressed_as_they_stream(step: int) -> None:
    plain = b'\xef\xbb\xbfid,name\r\n1,"a, b"\r\n2,caf\xc3\xa9\r\n'
    assert (
        rows_of(gzip.compress(plain), step)
        == rows_of(plain)
        == [
            (1, {"id": "1", "name": "a, b"}),
            (2, {"id": "2", "name": "café"}),
        ]
    )


cell = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00\r"),
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(
    header=st.lists(
        st.text(alphabet="abcdefgh", min_size=1, max_size=5), min_size=1, max_size=4, unique=True
    ),
    body=st.data(),
    step=st.integers(min_value=1, max_value=17),
)
def test_any_csv_reads_back_the_same_whatever_the_chunking(
    header: list[str], body: st.DataObject, step: int
) -> None:
    records = body.draw(
        st.lists(st.lists(cell, min_size=len(header), max_size=len(header)), max_size=8)
    )
    text = io.StringIO()
    writer = csv.writer(text, quoting=csv.QUOTE_ALL)
    writer.writerow(header)
    writer.writerows(records)
    expected = [(n, dict(zip(header, r, strict=True))) for n, r in enumerate(records, 1)]
    assert rows_of(text.getvalue().encode(), step) == expected


def peak_bytes_reading(total_bytes: int) -> tuple[int, int]:
    import tracemalloc

    tracemalloc.start()
    try:
        rows = sum(1 for _ in read_rows(GeneratedBody(total_bytes)))
        return rows, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_peak_memory_does_not_grow_with_object_size() -> None:
    small_rows, small_peak = peak_bytes_reading(1 << 20)
    large_rows, large_peak = peak_bytes_reading(8 << 20)
    assert large_rows > 7 * small_rows > 0
    # 8x the data: a reader that buffered the object would peak at 8x; streaming stays flat.
    assert large_peak < small_peak * 1.5 + 256 * 1024, (small_peak, large_peak)
