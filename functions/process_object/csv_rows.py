"""Stream CSV rows from a binary stream in constant memory.

Lines are read and decoded one at a time (UTF-8, BOM stripped, each record capped in bytes) and
the csv module parses them as they arrive, so memory does not grow with object size. Bad rows
(ragged, undecodable, over-long, broken quoting) are reported as :class:`RowError` items and
reading goes on; problems with the object as a whole (empty, binary, unreadable or too wide a
header, a broken gzip stream or one inflating past its caps) raise. Gzip-compressed objects (by
their magic bytes, whatever the key says) are decompressed as they stream, with the same limits
on the decompressed lines.

Hostile input costs bounded time: every cap (:class:`CsvLimits`) is checked as bytes arrive, so
an object over one is refused after reading about as much as the cap allows, never all of it.

Reading can stop after any item and go on later (issue 16 item 3): :attr:`CsvReader.position`
is the byte offset of the next record, the last row number and the physical line reached, and
``CsvReader(rest, resume=position)`` reads on from ``rest``, the object's bytes from that offset
(an S3 ranged GET), as if it had never stopped. A gzip stream cannot be ranged: the offset is in
the decompressed stream and ``CsvReader(whole, skip_to=position)`` reads the object again and
discards the bytes before it.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from sluice_common.errors import EmptyObject, NotCsv
from sluice_common.redact import mask_pans

CHUNK_BYTES = 64 * 1024
GZIP_MAGIC = b"\x1f\x8b"
FIELD_LIMIT_BYTES = 1024 * 1024
# csv's limit is process-wide; a field over 1 MiB is a row error, not a memory problem.
csv.field_size_limit(FIELD_LIMIT_BYTES)
# The gzip ratio is judged against at least this much compressed input: the first reads of a
# stream carry gzip's header and dictionary warm-up, so a tiny prefix says little about the rest.
# GzipFile reads 8 KiB of compressed input at a time (Python 3.11), so a bomb is still refused
# after about GzipMaxRatio x 8 KiB of output.
GZIP_RATIO_FLOOR_BYTES = 8 * 1024


@dataclass(frozen=True)
class CsvLimits:
    """Caps on what one object may cost; the defaults equal template.yaml's parameter defaults.

    Each is named after its template parameter so a refusal can say which one to raise.
    """

    max_columns: int = 16_384  # CsvMaxColumns
    max_record_bytes: int = 4 * 1024 * 1024  # CsvMaxRecordBytes
    gzip_max_ratio: int = 100  # GzipMaxRatio
    gzip_max_bytes: int = 10 * 1024**3  # GzipMaxBytes


def _raise_it(parameter: str) -> str:
    return f"raise it with --parameter-overrides {parameter}=..."


class Readable(Protocol):
    def read(self, amt: int | None = ..., /) -> bytes: ...


@dataclass(frozen=True)
class RowError:
    row: int
    error: str


Row = tuple[int, dict[str, str]]


class _RawAdapter(io.RawIOBase):
    """Lets io.BufferedReader pull from anything with read(n) (e.g. botocore StreamingBody)."""

    def __init__(self, body: Readable, first: bytes = b"") -> None:
        self._body = body
        self._first = first  # bytes already read from body, served before the rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data, self._first = self._first[: len(buffer)], self._first[len(buffer) :]
        if len(data) < len(buffer):
            data += self._body.read(len(buffer) - len(data))
        buffer[: len(data)] = data
        return len(data)


def _read_up_to(body: Readable, size: int) -> bytes:
    """Up to ``size`` bytes, however few each read returns (fewer only at the end)."""
    data = b""
    while len(data) < size and (more := body.read(size - len(data))):
        data += more
    return data


class _Counted:
    """Counts the compressed bytes GzipFile has taken, for the decompression ratio."""

    def __init__(self, compressed: io.BufferedReader[Any]) -> None:
        self._compressed = compressed
        self.taken = 0

    def read(self, size: int, /) -> bytes:
        data = self._compressed.read(size)
        self.taken += len(data)
        return data

    def seek(self, offset: int, /) -> int:
        return self._compressed.seek(offset)  # only on rewind, which streaming never does


class _Gunzip(io.RawIOBase):
    """Decompresses a gzip stream as it is read; a broken stream is the object's fault, and so
    is one that inflates past GzipMaxRatio or GzipMaxBytes (a decompression bomb): both are
    checked on every read, so a bomb is refused after a few MiB of output, not at its end."""

    def __init__(self, compressed: io.BufferedReader[Any], label: str, limits: CsvLimits) -> None:
        self._counted = _Counted(compressed)
        self._gzip = gzip.GzipFile(fileobj=self._counted, mode="rb")
        self._label = label
        self._limits = limits
        self._inflated = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        try:
            count = self._gzip.readinto(buffer)
        except (OSError, EOFError, zlib.error) as exc:
            raise NotCsv(
                f"{self._label} is gzip-compressed but the stream is broken: {exc}"
            ) from None
        self._inflated += count
        limits = self._limits
        if self._inflated > limits.gzip_max_bytes:
            raise NotCsv(
                f"{self._label} is gzip-compressed and inflates past {limits.gzip_max_bytes:,}"
                f" bytes; GzipMaxBytes is {limits.gzip_max_bytes:,} ({_raise_it('GzipMaxBytes')})"
            )
        taken = max(self._counted.taken, GZIP_RATIO_FLOOR_BYTES)
        if self._inflated > limits.gzip_max_ratio * taken:
            raise NotCsv(
                f"{self._label} is gzip-compressed and inflates more than"
                f" {limits.gzip_max_ratio:,}x ({self._inflated:,} bytes from the first"
                f" {self._counted.taken:,}); GzipMaxRatio is {limits.gzip_max_ratio:,}"
                f" ({_raise_it('GzipMaxRatio')})"
            )
        return count


class _BadLine(Exception):
    """A physical line that cannot reach the CSV parser; the row is reported, reading goes on."""


class _LostRecord(Exception):
    """A record over the byte cap inside a quoted line break: the parser's place (in quotes or
    not) is lost with it, so where the next record starts cannot be known. Reading on would
    send misaligned fields downstream as rows, so the object stops."""


class _Lines:
    """Decoded physical lines, counted for error messages and resuming; the lines of one record
    (a quoted field may span lines) total at most ``max_record_bytes``.

    Lines are split on b"\n" before decoding: that byte never occurs inside a UTF-8 sequence,
    so a bad byte is pinned to its line and a multi-byte character is never cut in two. The
    reader calls :meth:`new_record` before each record: the cap is per record, not per line,
    because a record of many short quoted lines would otherwise grow without bound.

    :attr:`offset` is the byte offset just past the last line handed out (or skipped), counted
    from what readline returned, never from what the buffer pulled from the body: the csv
    module takes the lines of one record and no more, so between records it is the offset of
    the next one. A BOM counts (it is stripped only from a line at offset 0, the object's start).
    """

    def __init__(
        self,
        buffered: io.BufferedReader[Any],
        max_record_bytes: int,
        *,
        offset: int = 0,
        number: int = 0,
    ) -> None:
        self._buffered = buffered
        self._max = max_record_bytes
        self._record_bytes = 0
        self._lines_in_record = 0
        self.offset = offset
        self.number = number

    def new_record(self) -> None:
        self._record_bytes = 0
        self._lines_in_record = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        room = self._max - self._record_bytes
        at_start = self.offset == 0
        # A BOM is not part of the record: read past it, or a first line up to 3 bytes over
        # the cap would be cut there, within it once the BOM is gone, and read on as two.
        raw = self._buffered.readline(room + 1 + (len(codecs.BOM_UTF8) if at_start else 0))
        if not raw:
            raise StopIteration
        self.offset += len(raw)
        self.number += 1
        if at_start and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        self._record_bytes += len(raw)
        self._lines_in_record += 1
        if len(raw) > room and self._lines_in_record > 1:
            raise _LostRecord(
                f"the record from line {self.number - self._lines_in_record + 1} is still open"
                f" (a quoted line break) at line {self.number} and over {self._max:,} bytes; an"
                " unclosed quote? CsvMaxRecordBytes is"
                f" {self._max:,} ({_raise_it('CsvMaxRecordBytes')})"
            )
        if len(raw) > room:
            if not raw.endswith(b"\n"):
                # Skip the rest of the line without holding it; its bytes still count.
                while rest := self._buffered.readline(CHUNK_BYTES):
                    self.offset += len(rest)
                    if rest.endswith(b"\n"):
                        break
            raise _BadLine(
                f"the record at line {self.number} is over {self._max:,} bytes"
                f" (CsvMaxRecordBytes; {_raise_it('CsvMaxRecordBytes')}): skipped"
            )
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _BadLine(
                f"line {self.number} is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset "
                f"{exc.start}): save the file as UTF-8"
            ) from None


@dataclass(frozen=True)
class Resume:
    """Where reading stopped: enough to read on from the next record later.

    ``offset`` is the byte offset of the next record in the object as stored (in the
    decompressed stream when the object is gzip), ``row`` the number of the last row done
    (data or error; 0 = none: the next is ``row + 1``), ``line`` the physical lines consumed
    (error messages go on counting from it) and ``header`` the column names (``()`` when the
    object has no header, so no rows). A list for ``header`` (e.g. from JSON) becomes a tuple.
    """

    offset: int
    row: int
    line: int
    header: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "header", tuple(self.header))
        if min(self.offset, self.row, self.line) < 0:
            raise ValueError(f"a resume point counts from 0: {self!r}")


class CsvReader:
    """Rows of a CSV object, one at a time; after each, :attr:`position` says where to resume.

    Construction reads as far as the end of the header and raises what :func:`read_rows` raises
    for the object as a whole (EmptyObject, NotCsv). Iterating yields ``(row_number, {column:
    value})`` per data row and :class:`RowError` per bad one, numbered from 1 after the header;
    a problem that stops the object (a broken gzip stream, a record lost in an open quote)
    raises NotCsv.

    ``position`` is valid once constructed (just after the header) and after every item: it is
    past the item just yielded and no further (blank lines after it are read with the next
    one). Read it before asking for the next item. After an exception (NotCsv, or the body's
    own read error) it may be inside a record: resume from the last one read after an item.

    ``resume``: ``body`` is the object's bytes from ``resume.offset`` on (``Range: bytes=N-``);
    there is no BOM, header or sniffing there, and no bytes means no more rows. Not for a gzip
    object (:attr:`compressed`), whose offsets are in the decompressed stream: for those pass the
    whole object and ``skip_to``, which reads the header again, checks it against the
    checkpoint's and discards the decompressed bytes before ``skip_to.offset`` unparsed, so
    nothing before it is yielded again. ``skip_to`` works for a plain object too (read again from
    byte 0). An object that does not match its checkpoint (another header, too short, the
    offset not at a line's end) raises NotCsv.
    """

    def __init__(
        self,
        body: Readable,
        *,
        label: str = "object",
        limits: CsvLimits | None = None,
        resume: Resume | None = None,
        skip_to: Resume | None = None,
    ) -> None:
        if resume is not None and skip_to is not None:
            raise ValueError("resume (a ranged body) or skip_to (the whole object), not both")
        self.label = label
        limits = limits or CsvLimits()
        #: True when the object is gzip: offsets are in its decompressed stream (use skip_to).
        self.compressed = False
        self.header: tuple[str, ...] = ()
        self._row = 0
        if resume is not None:
            buffered: io.BufferedReader[Any] = io.BufferedReader(_RawAdapter(body), CHUNK_BYTES)
            self._lines = _Lines(
                buffered, limits.max_record_bytes, offset=resume.offset, number=resume.line
            )
            self._reader = csv.reader(self._lines)
            self.header, self._row = resume.header, resume.row
        else:
            buffered = self._open(body, limits)
            self._lines = _Lines(buffered, limits.max_record_bytes)
            self._reader = csv.reader(self._lines)
            try:
                header = _header(self._reader, self._lines, label, limits.max_columns)
            except (_BadLine, _LostRecord, csv.Error) as exc:
                raise NotCsv(f"{label}: the header cannot be read: {exc}") from None
            self.header = tuple(header or ())
            if skip_to is not None:
                self._skip(buffered, skip_to)
        self._items = self._read() if self.header else iter(())

    def _open(self, body: Readable, limits: CsvLimits) -> io.BufferedReader[Any]:
        label = self.label
        first = _read_up_to(body, len(GZIP_MAGIC))
        buffered: io.BufferedReader[Any] = io.BufferedReader(_RawAdapter(body, first), CHUNK_BYTES)
        head = buffered.peek(CHUNK_BYTES)[:CHUNK_BYTES]
        if not head:
            raise EmptyObject(f"{label} is empty (0 bytes): nothing to process")
        if first == GZIP_MAGIC:
            self.compressed = True
            buffered = io.BufferedReader(_Gunzip(buffered, label, limits), buffer_size=CHUNK_BYTES)
            head = buffered.peek(CHUNK_BYTES)[:CHUNK_BYTES]
            if not head:
                raise EmptyObject(
                    f"{label} is gzip-compressed and empty inside: nothing to process"
                )
        if b"\x00" in head:
            raise NotCsv(f"{label} looks binary (NUL byte in its first {len(head)} bytes), not CSV")
        return buffered

    def _skip(self, buffered: io.BufferedReader[Any], to: Resume) -> None:
        """Discard what lies between the header and ``to``, in chunks, without parsing it."""
        lines = self._lines
        mismatch = f"{self.label} does not match its checkpoint (changed since?):"
        if self.header != to.header:
            raise NotCsv(f"{mismatch} the header differs")
        if lines.offset > to.offset or lines.number > to.line:
            raise NotCsv(
                f"{mismatch} its header ends at byte {lines.offset:,} (line {lines.number:,}),"
                f" after the checkpoint's byte {to.offset:,} (line {to.line:,})"
            )
        last = b"\n"
        while lines.offset < to.offset:
            chunk = buffered.read(min(CHUNK_BYTES, to.offset - lines.offset))
            if not chunk:
                raise NotCsv(
                    f"{mismatch} it ends at byte {lines.offset:,}, before the checkpoint's"
                    f" byte {to.offset:,}"
                )
            lines.offset += len(chunk)
            last = chunk[-1:]
        if last != b"\n" and buffered.peek(1):
            raise NotCsv(f"{mismatch} byte {to.offset:,} is not the end of a line")
        lines.number, self._row = to.line, to.row

    @property
    def position(self) -> Resume:
        """Where the next record starts: checkpoint this to resume after the last item."""
        return Resume(self._lines.offset, self._row, self._lines.number, self.header)

    def __iter__(self) -> Iterator[Row | RowError]:
        return self._items  # one pass: iterating again goes on where it stopped

    def __next__(self) -> Row | RowError:
        return next(self._items)

    def _read(self) -> Iterator[Row | RowError]:
        label, header, lines, reader = self.label, self.header, self._lines, self._reader
        while True:
            lines.new_record()
            try:
                record = next(reader)
            except StopIteration:
                return
            except _LostRecord as exc:
                raise NotCsv(f"{label}: {exc}") from None
            except (_BadLine, csv.Error) as exc:
                self._row += 1
                yield RowError(self._row, f"unreadable CSV at line {lines.number}: {exc}")
                continue
            if not record:
                continue  # blank line: no data
            self._row += 1
            if len(record) != len(header):
                # The header is at most CsvMaxColumns wide, so this also caps fields per record;
                # what parsing one costs is bounded by CsvMaxRecordBytes, before it is counted.
                yield RowError(
                    self._row,
                    f"row has {len(record)} fields, the header has {len(header)}"
                    f" (line {lines.number})",
                )
                continue
            yield self._row, dict(zip(header, record, strict=True))


def read_rows(
    body: Readable, *, label: str = "object", limits: CsvLimits | None = None
) -> Iterator[Row | RowError]:
    """Yield ``(row_number, {column: value})`` per data row (1 = first row after the header).

    Lazy: nothing is read, and nothing raised, until the first item is asked for. To stop and
    resume, use :class:`CsvReader`.
    """
    yield from CsvReader(body, label=label, limits=limits)


def _header(
    reader: Iterator[list[str]], lines: _Lines, label: str, max_columns: int
) -> list[str] | None:
    while True:
        lines.new_record()
        record = next(reader, None)
        if record is None:
            return None
        if record:
            break
    if len(record) > max_columns:
        raise NotCsv(
            f"{label}: the header has {len(record):,} columns; CsvMaxColumns is {max_columns:,}"
            f" ({_raise_it('CsvMaxColumns')})"
        )
    names = [name.strip() for name in record]
    # Counted in one pass: names.count() per name was quadratic (80,000 columns took 54 s).
    duplicates = sorted(name for name, seen in Counter(names).items() if seen > 1)
    if duplicates:
        # A hostile header may repeat thousands of names: the reason lists enough to act on. A
        # headerless file's first row is data: card-number-like runs are masked, names cut.
        shown = f"{[mask_pans(name)[:40] for name in duplicates[:10]]}" + (
            f" and {len(duplicates) - 10:,} more" if len(duplicates) > 10 else ""
        )
        raise NotCsv(f"{label}: header repeats column(s) {shown}")
    return names
