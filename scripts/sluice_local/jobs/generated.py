"""CSV objects generated on the fly, and in-memory stand-ins for an S3 body and client, for
tests and benchmarks of any size."""

from __future__ import annotations

import io
from collections.abc import Generator
from typing import Any

HEADER = b"id,note,at,pad\n"
ROW = b'42,"a quoted, field",2024-01-15T10:00:00Z,' + b"x" * 60 + b"\n"


class GeneratedBody:
    """A botocore-StreamingBody look-alike over generated CSV rows: never whole in memory."""

    def __init__(self, total_bytes: int) -> None:
        self.rows = max(1, total_bytes // len(ROW))
        self._chunks = self._generate()
        self._pending = b""

    def _generate(self) -> Generator[bytes, None, None]:
        yield HEADER
        left = self.rows
        while left:
            n = min(left, 1000)
            left -= n
            yield ROW * n

    def read(self, amt: int | None = None) -> bytes:
        amt = amt or 1 << 16
        while len(self._pending) < amt:
            nxt = next(self._chunks, None)
            if nxt is None:
                break
            self._pending += nxt
        out, self._pending = self._pending[:amt], self._pending[amt:]
        return out

    def close(self) -> None:
        self._chunks.close()


class Trickle:
    """A body that returns at most ``step`` bytes per read, like a slow network stream."""

    def __init__(self, data: bytes, step: int) -> None:
        self._stream = io.BytesIO(data)
        self._step = step

    def read(self, amt: int | None = None) -> bytes:
        return self._stream.read(self._step if amt is None else min(amt, self._step))


class MemoryS3:
    """head_object and get_object (with Range) over fixed bytes: the domain code's S3 client
    without S3."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def head_object(self, **_: Any) -> dict[str, Any]:
        return {"ETag": '"memory"', "ContentLength": len(self.data)}

    def get_object(self, **params: Any) -> dict[str, Any]:
        start = params.get("Range", "bytes=0-").removeprefix("bytes=").split("-")[0]
        return {"Body": io.BytesIO(self.data[int(start or 0) :])}
