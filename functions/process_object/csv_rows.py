"""Stream CSV rows from a binary stream in constant memory.

Lines are read and decoded one at a time (UTF-8, BOM stripped, each line capped in length) and
the csv module parses them as they arrive, so memory does not grow with object size. Bad rows
(ragged, undecodable, over-long, broken quoting) are reported as :class:`RowError` items and
reading goes on; problems with the object as a whole (empty, binary, unreadable header, a
broken gzip stream) raise. Gzip-compressed objects (by their magic bytes, whatever the key says)
are decompressed as they stream, with the same limits on the decompressed lines.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from sluice_common.errors import EmptyObject, NotCsv

CHUNK_BYTES = 64 * 1024
GZIP_MAGIC = b"\x1f\x8b"
FIELD_LIMIT_BYTES = 1024 * 1024
LINE_LIMIT_BYTES = 4 * FIELD_LIMIT_BYTES
# csv's limit is process-wide; a field over 1 MiB is a row error, not a memory problem.
csv.field_size_limit(FIELD_LIMIT_BYTES)


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


class _Gunzip(io.RawIOBase):
    """Decompresses a gzip stream as it is read; a broken stream is the object's fault."""

    def __init__(self, compressed: io.BufferedReader[Any], label: str) -> None:
        self._gzip = gzip.GzipFile(fileobj=compressed, mode="rb")
        self._label = label

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        try:
            return self._gzip.readinto(buffer)
        except (OSError, EOFError, zlib.error) as exc:
            raise NotCsv(
                f"{self._label} is gzip-compressed but the stream is broken: {exc}"
            ) from None


class _BadLine(Exception):
    """A physical line that cannot reach the CSV parser; the row is reported, reading goes on."""


class _Lines:
    """Decoded physical lines, at most LINE_LIMIT_BYTES each, counted for error messages.

    Lines are split on b"\n" before decoding: that byte never occurs inside a UTF-8 sequence,
    so a bad byte is pinned to its line and a multi-byte character is never cut in two.
    """

    def __init__(self, buffered: io.BufferedReader[Any]) -> None:
        self._buffered = buffered
        self.number = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        raw = self._buffered.readline(LINE_LIMIT_BYTES + 1)
        if not raw:
            raise StopIteration
        self.number += 1
        if self.number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        if len(raw) > LINE_LIMIT_BYTES and not raw.endswith(b"\n"):
            while (rest := self._buffered.readline(CHUNK_BYTES)) and not rest.endswith(b"\n"):
                pass  # skip the rest of the line without holding it
            raise _BadLine(f"line {self.number} is longer than {LINE_LIMIT_BYTES} bytes: skipped")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _BadLine(
                f"line {self.number} is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset "
                f"{exc.start}): save the file as UTF-8"
            ) from None


def read_rows(body: Readable, *, label: str = "object") -> Iterator[Row | RowError]:
    """Yield ``(row_number, {column: value})`` per data row (1 = first row after the header)."""
    first = _read_up_to(body, len(GZIP_MAGIC))
    buffered: io.BufferedReader[Any] = io.BufferedReader(_RawAdapter(body, first), CHUNK_BYTES)
    head = buffered.peek(CHUNK_BYTES)[:CHUNK_BYTES]
    if not head:
        raise EmptyObject(f"{label} is empty (0 bytes): nothing to process")
    if first == GZIP_MAGIC:
        buffered = io.BufferedReader(_Gunzip(buffered, label), buffer_size=CHUNK_BYTES)
        head = buffered.peek(CHUNK_BYTES)[:CHUNK_BYTES]
        if not head:
            raise EmptyObject(f"{label} is gzip-compressed and empty inside: nothing to process")
    if b"\x00" in head:
        raise NotCsv(f"{label} looks binary (NUL byte in its first {len(head)} bytes), not CSV")
    lines = _Lines(buffered)
    reader = csv.reader(lines)
    try:
        header = _header(reader, label)
    except (_BadLine, csv.Error) as exc:
        raise NotCsv(f"{label}: the header cannot be read: {exc}") from None
    if header is None:
        return
    row_number = 0
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except (_BadLine, csv.Error) as exc:
            row_number += 1
            yield RowError(row_number, f"unreadable CSV at line {lines.number}: {exc}")
            continue
        if not record:
            continue  # blank line: no data
        row_number += 1
        if len(record) != len(header):
            yield RowError(
                row_number,
                f"row has {len(record)} fields, the header has {len(header)} (line {lines.number})",
            )
            continue
        yield row_number, dict(zip(header, record, strict=True))


def _header(reader: Iterator[list[str]], label: str) -> list[str] | None:
    for record in reader:
        if not record:
            continue
        names = [name.strip() for name in record]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise NotCsv(f"{label}: header repeats column(s) {duplicates}")
        return names
    return None
