"""Faults to inject through the dispatcher's hooks, shared by the e2e tests and the benchmarks."""

from __future__ import annotations

from typing import Any


def lease_always_held(logical_id: str, event: Any, result: Any) -> Any:
    """``Dispatcher.result_hook``: a lease that misjudges, telling every drain it holds it."""
    if logical_id == "DrainLeaseFunction" and event.get("action") == "hold":
        return {**result, "held": True, "keepGoing": True}
    return result
