"""Faults to inject through the dispatcher's hooks, shared by the e2e tests and the benchmarks."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class SimulatedCrash(BaseException):
    """The function's process dies mid-invocation (out of memory, killed): no handler code can
    catch it, as none could catch a real crash. The dispatcher reports it as Lambda does:
    ``Runtime.ExitError``."""


def lease_always_held(logical_id: str, event: Any, result: Any) -> Any:
    """``Dispatcher.result_hook``: a lease that misjudges, telling every drain it holds it."""
    if logical_id == "DrainLeaseFunction" and event.get("action") == "hold":
        return {**result, "held": True, "keepGoing": True}
    return result


@contextmanager
def crash_mid_object(
    crash: Callable[[str, int], bool], before_row: int = 3
) -> Iterator[list[tuple[str, int]]]:
    """While active, ProcessObject's process dies just before it sends row ``before_row`` of an
    object whenever ``crash(key, attempt)`` says so (attempt 1 is the first time that row is
    tried). Rows before it were delivered; their idempotency records are complete, the row's
    own record is left in progress, as a real crash leaves them. Yields the crashes made."""
    module = sys.modules["downstream"]  # ProcessObject's module, loaded with its handler
    original = module.HttpDownstream.post
    attempts: dict[str, int] = {}
    crashes: list[tuple[str, int]] = []
    lock = threading.Lock()

    def post(self: Any, body: bytes, headers: Any) -> Any:
        row = json.loads(body)
        if row.get("row") == before_row:
            key = str(row.get("key"))
            with lock:
                attempts[key] = attempts.get(key, 0) + 1
                attempt = attempts[key]
            if crash(key, attempt):
                with lock:
                    crashes.append((key, attempt))
                raise SimulatedCrash(f"killed before row {before_row} of {key}")
        return original(self, body, headers)

    module.HttpDownstream.post = post
    try:
        yield crashes
    finally:
        module.HttpDownstream.post = original
