"""A downstream's answer without a socket: a body that counts what is read of it, and a
PoolManager that answers every request with one, to see how much of an answer is read and
whether its connection is pooled or closed."""

from __future__ import annotations

from typing import Any

import urllib3


class CountingBody:
    """A socket-like body: ``head``, then ``filler`` repeated, ``size`` bytes in all (``head``
    alone when no size is given). Counts what is read of it, and closes at its end as
    http.client's response does."""

    def __init__(self, size: int | None = None, *, head: bytes = b"", filler: bytes = b"x") -> None:
        self.head, self.filler = head, filler
        self.size = len(head) if size is None else size
        self.read_bytes = 0
        self.closed = False

    def read(self, amt: int | None = None) -> bytes:
        n = self.size - self.read_bytes if amt is None else min(amt, self.size - self.read_bytes)
        start = self.read_bytes
        self.read_bytes += n
        if self.read_bytes >= self.size:
            self.closed = True
        return self._bytes(start, n)

    read1 = read

    def close(self) -> None:
        self.closed = True

    def _bytes(self, start: int, n: int) -> bytes:
        # Made on demand: a multi-megabyte body costs only what is read of it.
        data = self.head[start : start + n]
        if len(data) < n:
            offset = max(start - len(self.head), 0) % len(self.filler)
            missing = n - len(data)
            data += (self.filler * ((offset + missing) // len(self.filler) + 1))[
                offset : offset + missing
            ]
        return data


class Connection:
    closed = False

    def close(self) -> None:
        self.closed = True


class Pool:
    """The pool an answer's connection goes back to when the answer was read whole."""

    def __init__(self) -> None:
        self.bodies: list[CountingBody] = []
        self.connections: list[Connection] = []
        self.pooled: list[Connection] = []

    def answer(
        self,
        body: CountingBody,
        status: int = 200,
        headers: dict[str, str] | None = None,
        preload_content: bool = False,
    ) -> urllib3.HTTPResponse:
        connection = Connection()
        self.bodies.append(body)
        self.connections.append(connection)
        return urllib3.HTTPResponse(
            body=body,  # type: ignore[arg-type]
            headers=headers or {},
            status=status,
            preload_content=preload_content,
            connection=connection,  # type: ignore[arg-type]
            pool=self,  # type: ignore[arg-type]
        )

    def _put_conn(self, connection: Connection) -> None:
        self.pooled.append(connection)


class OneAnswerPool(Pool):
    """A PoolManager answering every request with ``status``, ``headers`` and a fresh
    :class:`CountingBody` of ``size`` bytes (``head``, then ``filler`` repeated)."""

    def __init__(
        self,
        status: int,
        size: int,
        *,
        head: bytes = b"",
        filler: bytes = b"x",
        headers: dict[str, str],
    ) -> None:
        super().__init__()
        self.status, self.size, self.head, self.filler = status, size, head, filler
        self.headers = headers

    def request(self, method: str, url: str, **kwargs: Any) -> urllib3.HTTPResponse:
        return self.answer(
            CountingBody(self.size, head=self.head, filler=self.filler),
            self.status,
            self.headers,
            kwargs.get("preload_content", True),  # urllib3's default
        )
