"""What the dispatcher knows of each deployed function and counts of its invocations: shared
by the dispatcher, the log shipper, the deployment and the run report."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class FunctionRuntime:
    """What the dispatcher needs to run one deployed function."""

    function_name: str
    logical_id: str
    code_dir: Path
    handler: str
    layer_dirs: tuple[Path, ...]
    environment: dict[str, str]
    timeout_seconds: float
    memory_mb: int
    reserved_concurrency: int | None = None
    log_group: str | None = None
    # Set when every trigger of the function is asynchronous (SNS, CloudWatch Logs, schedules).
    async_config: AsyncConfig | None = None


@dataclass(frozen=True)
class AsyncConfig:
    """A function's EventInvokeConfig: how Lambda treats its asynchronous invocations."""

    maximum_retry_attempts: int
    on_failure_queue_url: str | None  # an SQS on-failure destination


# What the runtime does with each invocation's log lines (CloudWatch Logs and EMF metrics).
LogShipper = Callable[["FunctionRuntime", list[str]], None]


@dataclass(frozen=True)
class Invocation:
    logical_id: str
    event: Any
    result: Any  # the handler's return value, or Lambda's error payload when errored
    errored: bool


@dataclass
class InvocationStats:
    invocations: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    error_types: Counter[str] = field(default_factory=Counter)
    throttles: Counter[str] = field(default_factory=Counter)
    in_flight: Counter[str] = field(default_factory=Counter)
    peak_in_flight: Counter[str] = field(default_factory=Counter)
    busy_seconds: defaultdict[str, float] = field(
        default_factory=lambda: defaultdict(float)
    )  # what Lambda bills as duration
    history: list[Invocation] = field(default_factory=list)
    # Lambda's limits: the longest invocation (to its return or its timeout), the invocations
    # stopped at their Timeout, those that ran past it under --lenient, what a timed-out
    # invocation tried afterwards (refused), and payloads over the quotas.
    max_seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    timeouts: Counter[str] = field(default_factory=Counter)
    over_timeout: Counter[str] = field(default_factory=Counter)
    refused_after_timeout: Counter[str] = field(default_factory=Counter)
    oversized_requests: Counter[str] = field(default_factory=Counter)
    oversized_responses: Counter[str] = field(default_factory=Counter)

    def results(self, logical_id: str) -> list[Invocation]:
        return [i for i in list(self.history) if i.logical_id == logical_id]
