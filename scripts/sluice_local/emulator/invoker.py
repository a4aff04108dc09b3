"""Run each deployed function's real handler in-process, whatever invokes it.

moto sends every invocation (boto3 invoke, Step Functions lambda:invoke, SNS, SQS and Kinesis
event source mappings) through ``LambdaFunction._invoke_lambda``; replacing that one method with
a dispatcher runs the function's code from its CodeUri folder with its layers importable, its
template Environment, and a Lambda-like context.

The dispatcher refuses what Lambda refuses (unless ``lenient``): an invocation runs on a thread
of its own and the caller gets ``Sandbox.Timedout`` at the function's Timeout, after which the
abandoned thread can reach nothing (:mod:`sluice_local.emulator.sandbox`); requests and responses
over Lambda's payload quotas fail with Lambda's errors.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from sluice_local.emulator import sandbox
from sluice_local.emulator.attempt import Attempts
from sluice_local.emulator.invocation_io import (
    LogSink,
    ThreadEnviron,
    ThreadStdout,
    capture_powertools_loggers,
    install_process_io,
)
from sluice_local.emulator.invocations import (
    AsyncConfig,
    FunctionRuntime,
    InvocationStats,
    LogShipper,
)
from sluice_local.emulator.lambda_service import (
    ASYNC_REQUEST_LIMIT,
    SYNC_REQUEST_LIMIT,
    install_request_capture,
    metric_data,
    on_failure_record,
    request,
    throttled_error,
    too_large_error,
)
from sluice_local.handlers import load_handler


class Dispatcher(Attempts):
    """Maps moto function names to real handlers and installs itself into moto."""

    def __init__(self, log_dir: Path | None = None, *, lenient: bool = False) -> None:
        self.log_dir = log_dir
        # Lenient: limits are measured and reported, not enforced (a handler runs past its
        # Timeout and its result is returned; oversized payloads pass).
        self.lenient = lenient
        # Timed-out invocations' threads, which Python cannot stop: (logical id, thread).
        self.abandoned: list[tuple[str, threading.Thread]] = []
        self._sinks: dict[str, LogSink] = {}
        self._stdout: ThreadStdout | None = None
        self._functions: dict[str, FunctionRuntime] = {}
        self._container = uuid.uuid4().hex[:8]  # fresh handler modules per deployment
        self.stats = InvocationStats()
        self._lock = threading.Lock()
        self._original: Any = None
        self._environ: ThreadEnviron | None = None
        self.crash_hook: Any = None  # set by fault-injection tests: callable(name, event) -> None
        # fault injection: callable(logical_id, event) -> bool, True to throttle this call
        self.throttle_hook: Any = None
        # Fault injection on answers: callable(name, event, result) -> result (e.g. a lease
        # that wrongly says "held").
        self.result_hook: Any = None
        self.log_shipper: LogShipper | None = None
        # (queue URL, body) -> None: how on-failure destination records are sent.
        self.send_to_queue: Callable[[str, str], None] | None = None
        # PutMetricData entries for the AWS/Lambda namespace -> None: the metrics Lambda itself
        # publishes per function (see _publish), which operators' tools read.
        self.lambda_metrics: Callable[[list[dict[str, Any]]], None] | None = None

    def register(self, runtime: FunctionRuntime) -> None:
        """Call after :meth:`install`, so the handler's loggers write through the dispatcher."""
        load_handler(  # fail early
            runtime.code_dir, runtime.handler, runtime.layer_dirs, self._container
        )
        if self._stdout is not None:
            capture_powertools_loggers(self._stdout)
        self._functions[runtime.function_name] = runtime
        if self.log_dir is not None:
            self._sinks[runtime.function_name] = LogSink(self.log_dir / f"{runtime.logical_id}.log")

    def set_async_config(self, function_name: str, config: AsyncConfig) -> None:
        self._functions[function_name] = replace(
            self._functions[function_name], async_config=config
        )

    def runtimes(self) -> list[FunctionRuntime]:
        return list(self._functions.values())

    def runtime_for(self, logical_id: str) -> FunctionRuntime:
        for runtime in self._functions.values():
            if runtime.logical_id == logical_id:
                return runtime
        raise KeyError(f"no deployed function with logical id {logical_id}")

    def install(self) -> None:
        from moto.awslambda.models import LambdaFunction

        if self._original is not None:
            return
        self._original = LambdaFunction._invoke_lambda
        self._environ, self._stdout = install_process_io()
        sandbox.install_guards()
        sandbox.isolate_powertools()
        install_request_capture()
        dispatcher = self

        def _invoke_lambda(fn: Any, event: Any = None) -> tuple[str, bool, str]:
            return dispatcher.invoke(fn.function_name, event)

        LambdaFunction._invoke_lambda = _invoke_lambda  # type: ignore[method-assign,assignment]

    def uninstall(self) -> None:
        from moto.awslambda.models import LambdaFunction

        if self._original is not None:
            LambdaFunction._invoke_lambda = self._original  # type: ignore[method-assign]
            self._original = None
        for sink in self._sinks.values():
            sink.close()
        self._sinks.clear()

    def invoke(self, function_name: str, event: Any) -> tuple[str, bool, str]:
        """Run the handler; returns moto's (payload_json, errored, logs) triple."""
        runtime = self._functions.get(function_name)
        if runtime is None:
            raise RuntimeError(
                f"function {function_name} was invoked but is not from the template; "
                "the local runtime only runs the template's functions"
            )
        invocation_type = getattr(request, "invocation_type", "") or (
            "Event" if runtime.async_config is not None else "RequestResponse"
        )
        size = getattr(request, "size", None)
        if isinstance(event, str | bytes):
            size = len(event.encode() if isinstance(event, str) else event)
            event = json.loads(event or "{}")
        logical_id = runtime.logical_id
        if invocation_type == "DryRun":
            return "", False, ""  # Lambda checks the request and runs nothing
        limit = ASYNC_REQUEST_LIMIT if invocation_type == "Event" else SYNC_REQUEST_LIMIT
        if size is not None and size > limit:
            with self._lock:
                self.stats.oversized_requests[logical_id] += 1
            if not self.lenient:
                raise too_large_error(size, invocation_type)
        with self._lock:
            # Lambda enforces reserved concurrency on every path; moto does not, so this does.
            reserved = runtime.reserved_concurrency
            at_limit = reserved is not None and self.stats.in_flight[logical_id] >= reserved
            throttled = at_limit or bool(
                self.throttle_hook and self.throttle_hook(logical_id, event)
            )
            if throttled:
                self.stats.throttles[logical_id] += 1
            else:
                self.stats.invocations[logical_id] += 1
                self.stats.in_flight[logical_id] += 1
                self.stats.peak_in_flight[logical_id] = max(
                    self.stats.peak_in_flight[logical_id], self.stats.in_flight[logical_id]
                )
            concurrency = self.stats.in_flight[logical_id]
        if throttled:
            self._publish(runtime, Throttles=1)
            raise throttled_error(function_name, reserved or 0)
        self._publish(runtime, ConcurrentExecutions=concurrency)
        started = time.monotonic()
        try:
            if invocation_type != "Event" or runtime.async_config is None:
                return self._run(runtime, event, invocation_type)
            return self._run_async(runtime, runtime.async_config, event)
        finally:
            with self._lock:
                self.stats.in_flight[logical_id] -= 1
                self.stats.busy_seconds[logical_id] += time.monotonic() - started

    def _run_async(
        self, runtime: FunctionRuntime, config: AsyncConfig, event: Any
    ) -> tuple[str, bool, str]:
        """Lambda's asynchronous invocation: retried MaximumRetryAttempts times (at once here;
        Lambda waits about a minute, then two), then the on-failure destination receives the
        event with the last error."""
        attempts = 1 + config.maximum_retry_attempts
        for _ in range(attempts):
            payload, errored, logs = self._run(runtime, event, "Event")
            if not errored:
                return payload, errored, logs
        if config.on_failure_queue_url and self.send_to_queue is not None:
            with sandbox.entered(None):  # Lambda's own delivery, not the invocation's
                record = on_failure_record(runtime.function_name, event, attempts, payload)
                self.send_to_queue(config.on_failure_queue_url, record)
        return payload, errored, logs

    def _publish(self, runtime: FunctionRuntime, **values: float) -> None:
        """Lambda's own metrics of the function (see :func:`metric_data`)."""
        if self.lambda_metrics is None:
            return
        data = metric_data(runtime.function_name, values)
        with sandbox.entered(None):  # Lambda publishes them, not the invocation
            self.lambda_metrics(data)

    def _run(
        self, runtime: FunctionRuntime, event: Any, invocation_type: str
    ) -> tuple[str, bool, str]:
        """One attempt, with Lambda's metrics of it (see :meth:`_publish`)."""
        started = time.monotonic()
        payload, errored, logs = self._attempt(runtime, event, invocation_type)
        self._publish(
            runtime,
            Invocations=1,
            Errors=int(errored),
            Duration=round((time.monotonic() - started) * 1000, 3),
        )
        return payload, errored, logs

    def abandoned_running(self) -> Counter[str]:
        """Timed-out invocations whose threads still run (frozen: they reach nothing)."""
        with self._lock:
            return Counter(name for name, thread in self.abandoned if thread.is_alive())
