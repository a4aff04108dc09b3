"""One process, many invocations at once: each sees its own function's environment variables
(os.environ with a per-thread overlay) and prints to its own function's log (sys.stdout with a
per-thread sink), as each Lambda execution environment has its own."""

from __future__ import annotations

import io
import logging
import os
import sys
import threading
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sluice_local.emulator import sandbox


class ThreadEnviron(MutableMapping[str, str]):
    """os.environ with a per-thread overlay: each invocation sees its own function's variables.

    Several functions run at once in one process; Lambda gives each its own environment.
    """

    def __init__(self, base: MutableMapping[str, str]) -> None:
        self._base = base
        self._local = threading.local()

    def _overlay(self) -> dict[str, str] | None:
        return getattr(self._local, "overlay", None)

    @contextmanager
    def overlay(self, values: dict[str, str]) -> Iterator[None]:
        previous = self._overlay()
        self._local.overlay = {**(previous or {}), **values}
        try:
            yield
        finally:
            self._local.overlay = previous

    def __getitem__(self, key: str) -> str:
        overlay = self._overlay()
        if overlay is not None and key in overlay:
            return overlay[key]
        return self._base[key]

    def __setitem__(self, key: str, value: str) -> None:
        overlay = self._overlay()
        if overlay is not None:
            overlay[key] = value
        else:
            self._base[key] = value

    def __delitem__(self, key: str) -> None:
        overlay = self._overlay()
        if overlay is not None and key in overlay:
            del overlay[key]
        else:
            del self._base[key]

    def __iter__(self) -> Iterator[str]:
        overlay = self._overlay() or {}
        yield from overlay
        yield from (k for k in self._base if k not in overlay)

    def __len__(self) -> int:
        return len(set(self._base) | set(self._overlay() or {}))

    def copy(self) -> dict[str, str]:
        return dict(self)


class ThreadStdout(io.TextIOBase):
    """sys.stdout that sends what an invocation prints to its function's log file, as Lambda
    sends it to the function's log group; everything else goes to the real stdout."""

    def __init__(self, base: Any) -> None:
        self._base = base
        self._local = threading.local()

    @contextmanager
    def redirect(self, sink: LogSink | Capture | None) -> Iterator[None]:
        previous = getattr(self._local, "sink", None)
        self._local.sink = sink
        self._local.pending = ""
        try:
            yield
        finally:
            if sink is not None and self._local.pending:
                sink.write(self._local.pending + "\n")
            self._local.sink = previous
            self._local.pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        sink = getattr(self._local, "sink", None)
        if sink is None:
            return int(self._base.write(text))
        # print() writes the text and the newline separately: whole lines only, so lines of
        # invocations running at once never interleave in the log file.
        pending = self._local.pending + text
        complete, newline, rest = pending.rpartition("\n")
        if newline:
            sink.write(complete + newline)
        self._local.pending = rest
        return len(text)

    def flush(self) -> None:
        self._base.flush()


class LogSink:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._file = path.open("a", encoding="utf-8")

    def write(self, text: str) -> int:
        with self._lock:
            written = self._file.write(text)
            self._file.flush()
            return written

    def close(self) -> None:
        with self._lock:
            self._file.close()


class Capture:
    """One invocation's log lines: kept for the log shipper, and written to the function's log
    file as well. Once the invocation is frozen (timed out) its own lines are dropped, as Lambda
    freezes the sandbox; the runtime's lines about it (``platform=True``) still land."""

    def __init__(self, file: LogSink | None, box: sandbox.Sandbox | None = None) -> None:
        self._file = file
        self._box = box
        self.text: list[str] = []

    def write(self, text: str, platform: bool = False) -> int:
        if not platform and self._box is not None and self._box.frozen:
            return len(text)
        self.text.append(text)
        return self._file.write(text) if self._file is not None else len(text)

    def lines(self) -> list[str]:
        return [line for line in "".join(self.text).splitlines() if line.strip()]


_stdout_wrapper: ThreadStdout | None = None
_stdout_lock = threading.Lock()


def reclaim_stdout(wrapper: ThreadStdout) -> None:
    """Put the wrapper back if sys.stdout was replaced since install() (pytest's capture does
    so between test phases): a handler's print(), EMF metrics included, would bypass its log."""
    with _stdout_lock:
        current = sys.stdout
        if not isinstance(current, ThreadStdout):
            wrapper._base = current
            sys.stdout = wrapper


def install_process_io() -> tuple[ThreadEnviron, ThreadStdout]:
    """Wrap os.environ and sys.stdout once per process (idempotent); returns both wrappers."""
    global _stdout_wrapper
    if not isinstance(os.environ, ThreadEnviron):
        # Intentional: wrap, not clear; os.getenv reads this module global at call time.
        os.environ = ThreadEnviron(os.environ)  # type: ignore[assignment]  # noqa: B003
    if not isinstance(sys.stdout, ThreadStdout):
        # One wrapper per process: a Powertools Logger keeps the stream it was created
        # with, so a second wrapper (sys.stdout replaced in between, e.g. by pytest's
        # capture) would leave that logger's lines outside every invocation's log.
        if _stdout_wrapper is None:
            _stdout_wrapper = ThreadStdout(sys.stdout)
        else:
            _stdout_wrapper._base = sys.stdout
        sys.stdout = _stdout_wrapper
    environ: Any = os.environ
    stdout: Any = sys.stdout
    return environ, stdout


def capture_powertools_loggers(stdout: ThreadStdout) -> None:
    """Point every Powertools Logger at the per-invocation stdout. A Logger keeps the stream
    it was created with; one created before the runtime started (a module imported while
    pytest collected tests, say) would otherwise write outside every invocation's log."""
    from aws_lambda_powertools.logging.formatter import BasePowertoolsFormatter

    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for item in loggers:
        for handler in getattr(item, "handlers", []):
            if (
                type(handler) is logging.StreamHandler
                and isinstance(handler.formatter, BasePowertoolsFormatter)
                and handler.stream is not stdout
            ):
                handler.setStream(stdout)
