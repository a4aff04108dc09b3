"""Run each deployed function's real handler in-process, whatever invokes it.

moto sends every invocation (boto3 invoke, Step Functions lambda:invoke, SNS, SQS and Kinesis
event source mappings) through ``LambdaFunction._invoke_lambda``; replacing that one method with
a dispatcher runs the function's code from its CodeUri folder with its layers importable, its
template Environment, and a Lambda-like context.

The dispatcher refuses what Lambda refuses (unless ``lenient``): an invocation runs on a thread
of its own and the caller gets ``Sandbox.Timedout`` at the function's Timeout, after which the
abandoned thread can reach nothing (:mod:`sluice_local.emulator.sandbox`); requests and responses over
Lambda's payload quotas fail with Lambda's errors.
"""

from __future__ import annotations

import io
import json
import os
import sys
import threading
import time
import traceback
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sluice_local.emulator import sandbox
from sluice_local.emulator.context import LambdaContext
from sluice_local.emulator.faults import SimulatedCrash
from sluice_local.handlers import load_handler

# Lambda's invocation payload quotas (Lambda quotas page; Invoke API reference).
SYNC_REQUEST_LIMIT = 6_291_456  # 6 MB: "Request must be smaller than 6291456 bytes ..."
# What a synchronous response may be: the size Function.ResponseSizeTooLarge's message names.
SYNC_RESPONSE_LIMIT = 6_291_556
ASYNC_REQUEST_LIMIT = 1_048_576  # 1 MB for InvocationType Event (256 KB before 2025)


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


class _ThreadEnviron(MutableMapping[str, str]):
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


class _ThreadStdout(io.TextIOBase):
    """sys.stdout that sends what an invocation prints to its function's log file, as Lambda
    sends it to the function's log group; everything else goes to the real stdout."""

    def __init__(self, base: Any) -> None:
        self._base = base
        self._local = threading.local()

    @contextmanager
    def redirect(self, sink: _LogSink | _Capture | None) -> Iterator[None]:
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


class _LogSink:
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


class _Capture:
    """One invocation's log lines: kept for the log shipper, and written to the function's log
    file as well. Once the invocation is frozen (timed out) its own lines are dropped, as Lambda
    freezes the sandbox; the runtime's lines about it (``platform=True``) still land."""

    def __init__(self, file: _LogSink | None, box: sandbox.Sandbox | None = None) -> None:
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


@dataclass(frozen=True)
class AsyncConfig:
    """A function's EventInvokeConfig: how Lambda treats its asynchronous invocations."""

    maximum_retry_attempts: int
    on_failure_queue_url: str | None  # an SQS on-failure destination


# What the runtime does with each invocation's log lines (CloudWatch Logs and EMF metrics).
LogShipper = Callable[["FunctionRuntime", list[str]], None]

_stdout_wrapper: _ThreadStdout | None = None
_stdout_lock = threading.Lock()


def _reclaim_stdout(wrapper: _ThreadStdout) -> None:
    """Put the wrapper back if sys.stdout was replaced since install() (pytest's capture does
    so between test phases): a handler's print(), EMF metrics included, would bypass its log."""
    with _stdout_lock:
        current = sys.stdout
        if not isinstance(current, _ThreadStdout):
            wrapper._base = current
            sys.stdout = wrapper


def _throttled(function_name: str, reserved: int) -> Exception:
    """Lambda's answer when a function is at its reserved concurrency: HTTP 429, which a caller
    sees as TooManyRequestsException (Step Functions: Lambda.TooManyRequestsException)."""
    from moto.core.exceptions import JsonRESTError

    error = JsonRESTError(
        "TooManyRequestsException",
        f"Rate Exceeded: {function_name} is at its reserved concurrency ({reserved})",
    )
    error.code = 429
    return error


def _too_large(size: int, invocation_type: str) -> Exception:
    """Lambda's answer to an oversized request: HTTP 413 RequestEntityTooLargeException."""
    from moto.core.exceptions import JsonRESTError

    if invocation_type == "Event":
        message = (
            f"{size} byte payload is too large for the Event invocation type "
            f"(limit {ASYNC_REQUEST_LIMIT} bytes)"
        )
    else:
        message = (
            f"Request must be smaller than {SYNC_REQUEST_LIMIT} bytes for the InvokeFunction "
            "operation"
        )
    error = JsonRESTError("RequestEntityTooLargeException", message)
    error.code = 413
    return error


# What moto's LambdaFunction.invoke knows and _invoke_lambda is not told: the invocation type
# and the request's size, handed over on the calling thread.
_request = threading.local()


def _invocation_type(headers: Any) -> str:
    """The request's InvocationType; "" for moto's own event-source paths, which pass no
    headers (SNS, CloudWatch Logs, S3 and SQS deliveries)."""
    if not headers:
        return ""
    for name in ("x-amz-invocation-type", "X-Amz-Invocation-Type"):
        value = headers.get(name)
        if value:
            return str(value)
    return "RequestResponse"


@dataclass
class _Outcome:
    """What the invocation's thread hands back to the caller."""

    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None
    finished_at: float = 0.0


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


class Dispatcher:
    """Maps moto function names to real handlers and installs itself into moto."""

    def __init__(self, log_dir: Path | None = None, *, lenient: bool = False) -> None:
        self.log_dir = log_dir
        # Lenient: limits are measured and reported, not enforced (a handler runs past its
        # Timeout and its result is returned; oversized payloads pass).
        self.lenient = lenient
        # Timed-out invocations' threads, which Python cannot stop: (logical id, thread).
        self.abandoned: list[tuple[str, threading.Thread]] = []
        self._sinks: dict[str, _LogSink] = {}
        self._stdout: _ThreadStdout | None = None
        self._functions: dict[str, FunctionRuntime] = {}
        self._container = uuid.uuid4().hex[:8]  # fresh handler modules per deployment
        self.stats = InvocationStats()
        self._lock = threading.Lock()
        self._original: Any = None
        self._environ: _ThreadEnviron | None = None
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
        self._capture_powertools_loggers()
        self._functions[runtime.function_name] = runtime
        if self.log_dir is not None:
            self._sinks[runtime.function_name] = _LogSink(
                self.log_dir / f"{runtime.logical_id}.log"
            )

    def set_async_config(self, function_name: str, config: AsyncConfig) -> None:
        self._functions[function_name] = replace(
            self._functions[function_name], async_config=config
        )

    def _capture_powertools_loggers(self) -> None:
        """Point every Powertools Logger at the per-invocation stdout. A Logger keeps the stream
        it was created with; one created before the runtime started (a module imported while
        pytest collected tests, say) would otherwise write outside every invocation's log."""
        import logging

        from aws_lambda_powertools.logging.formatter import BasePowertoolsFormatter

        if self._stdout is None:
            return
        loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
        for item in loggers:
            for handler in getattr(item, "handlers", []):
                if (
                    type(handler) is logging.StreamHandler
                    and isinstance(handler.formatter, BasePowertoolsFormatter)
                    and handler.stream is not self._stdout
                ):
                    handler.setStream(self._stdout)

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
        if not isinstance(os.environ, _ThreadEnviron):
            # Intentional: wrap, not clear; os.getenv reads this module global at call time.
            os.environ = _ThreadEnviron(os.environ)  # type: ignore[assignment]  # noqa: B003
        self._environ = os.environ  # type: ignore[assignment]
        global _stdout_wrapper
        if not isinstance(sys.stdout, _ThreadStdout):
            # One wrapper per process: a Powertools Logger keeps the stream it was created
            # with, so a second wrapper (sys.stdout replaced in between, e.g. by pytest's
            # capture) would leave that logger's lines outside every invocation's log.
            if _stdout_wrapper is None:
                _stdout_wrapper = _ThreadStdout(sys.stdout)
            else:
                _stdout_wrapper._base = sys.stdout
            sys.stdout = _stdout_wrapper
        self._stdout = sys.stdout
        sandbox.install_guards()
        sandbox.isolate_powertools()
        _install_request_capture()
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
        invocation_type = getattr(_request, "invocation_type", "") or (
            "Event" if runtime.async_config is not None else "RequestResponse"
        )
        size = getattr(_request, "size", None)
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
                raise _too_large(size, invocation_type)
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
            raise _throttled(function_name, reserved or 0)
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
            record = {
                "version": "1.0",
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                "requestContext": {
                    "requestId": str(uuid.uuid4()),
                    "functionArn": f"arn:aws:lambda:{os.environ.get('AWS_DEFAULT_REGION')}:"
                    f"123456789012:function:{runtime.function_name}:$LATEST",
                    "condition": "RetriesExhausted",
                    "approximateInvokeCount": attempts,
                },
                "requestPayload": event,
                "responseContext": {
                    "statusCode": 200,
                    "executedVersion": "$LATEST",
                    "functionError": "Unhandled",
                },
                "responsePayload": json.loads(payload),
            }
            with sandbox.entered(None):  # Lambda's own delivery, not the invocation's
                self.send_to_queue(config.on_failure_queue_url, json.dumps(record, default=str))
        return payload, errored, logs

    def _publish(self, runtime: FunctionRuntime, **values: float) -> None:
        """Lambda's own metrics of a function (Lambda Developer Guide, "Types of metrics for
        Lambda functions"), dimension FunctionName: Invocations and Errors per invocation
        (Errors 1 for a function error, timeouts included), Duration in milliseconds,
        Throttles per throttled request (not an invocation), and ConcurrentExecutions as the
        instances busy when one starts (read it with the Maximum statistic)."""
        if self.lambda_metrics is None:
            return
        units = {"Duration": "Milliseconds"}
        now = time.time()
        data = [
            {
                "MetricName": name,
                "Dimensions": [{"Name": "FunctionName", "Value": runtime.function_name}],
                "Value": float(value),
                "Unit": units.get(name, "Count"),
                "Timestamp": now,
            }
            for name, value in values.items()
        ]
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

    def _attempt(
        self, runtime: FunctionRuntime, event: Any, invocation_type: str
    ) -> tuple[str, bool, str]:
        """One attempt: the handler on a thread of its own, the caller answered at the latest
        at the function's Timeout (real seconds: the runtime's time scale never shortens a
        function's time), as Lambda answers it."""
        function_name = runtime.function_name
        context = LambdaContext(
            function_name=function_name,
            timeout_seconds=runtime.timeout_seconds,
            memory_limit_in_mb=runtime.memory_mb,
            region=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        )
        env = {
            **runtime.environment,
            "AWS_LAMBDA_FUNCTION_NAME": function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(runtime.memory_mb),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(int(runtime.timeout_seconds)),
            "_HANDLER": runtime.handler,
        }
        handler = load_handler(
            runtime.code_dir, runtime.handler, runtime.layer_dirs, self._container
        )
        assert self._environ is not None and self._stdout is not None
        logical_id = runtime.logical_id

        def refused(action: str) -> None:
            with self._lock:
                self.stats.refused_after_timeout[logical_id] += 1

        box = sandbox.Sandbox(
            function_name=function_name,
            request_id=context.aws_request_id,
            deadline=context.deadline,
            enforced=not self.lenient,
            on_refused=refused,
        )
        capture = _Capture(self._sinks.get(function_name), box)
        outcome = _Outcome()
        started = time.monotonic()
        thread = threading.Thread(
            target=self._call_handler,
            args=(runtime, handler, event, context, env, capture, box, outcome),
            name=f"lambda:{logical_id}:{context.aws_request_id[:8]}",
            daemon=True,
        )
        thread.start()
        if self.lenient:
            outcome.done.wait()
        else:
            outcome.done.wait(max(0.0, context.deadline - time.monotonic()))
        try:
            timed_out = not self.lenient and (
                not outcome.done.is_set()
                or outcome.finished_at > context.deadline
                or isinstance(outcome.error, sandbox.InvocationFrozen)
            )
            ended = context.deadline if timed_out else outcome.finished_at
            self._record_duration(runtime, ended - started)
            if timed_out:
                box.expired = True  # from here on the thread reaches nothing
                with self._lock:
                    self.stats.timeouts[logical_id] += 1
                    if thread.is_alive():
                        self.abandoned = [a for a in self.abandoned if a[1].is_alive()]
                        self.abandoned.append((logical_id, thread))
                message = f"Task timed out after {runtime.timeout_seconds:.2f} seconds"
                now = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
                capture.write(f"{now}Z {context.aws_request_id} {message}\n", platform=True)
                return self._error(
                    runtime,
                    event,
                    "Sandbox.Timedout",
                    f"RequestId: {context.aws_request_id} Error: {message}",
                )
            return self._answer(runtime, event, invocation_type, context, capture, outcome)
        finally:
            if self.log_shipper is not None:
                with sandbox.entered(None):  # the platform ships the logs, not the function
                    self.log_shipper(runtime, capture.lines())

    def _call_handler(
        self,
        runtime: FunctionRuntime,
        handler: Any,
        event: Any,
        context: LambdaContext,
        env: dict[str, str],
        capture: _Capture,
        box: sandbox.Sandbox,
        outcome: _Outcome,
    ) -> None:
        """The invocation's own thread: its sandbox, environment and stdout."""
        assert self._environ is not None and self._stdout is not None
        _reclaim_stdout(self._stdout)
        try:
            with (
                sandbox.entered(box),
                self._environ.overlay(env),
                self._stdout.redirect(capture),
            ):
                if self.crash_hook is not None:
                    self.crash_hook(runtime.logical_id, event)
                result = handler(event, context)
                if self.result_hook is not None:
                    result = self.result_hook(runtime.logical_id, event, result)
            outcome.result = result
        except BaseException as exc:  # the caller reports it as Lambda does
            outcome.error = exc
        finally:
            outcome.finished_at = time.monotonic()
            outcome.done.set()

    def _answer(
        self,
        runtime: FunctionRuntime,
        event: Any,
        invocation_type: str,
        context: LambdaContext,
        capture: _Capture,
        outcome: _Outcome,
    ) -> tuple[str, bool, str]:
        """The caller's answer for an invocation that ended within its Timeout (or under
        --lenient, whenever it ended)."""
        exc = outcome.error
        if isinstance(exc, SimulatedCrash):
            capture.write(f"[ERROR] Runtime.ExitError: {exc}\n", platform=True)
            return self._error(
                runtime,
                event,
                "Runtime.ExitError",
                f"RequestId: {context.aws_request_id} Error: Runtime exited with error: "
                f"signal: killed ({exc})",
            )
        if exc is not None:
            # The Lambda runtime logs an unhandled error to the function's log group.
            capture.write(f"[ERROR] {type(exc).__name__}: {exc}\n", platform=True)
            return self._error(
                runtime,
                event,
                type(exc).__name__,
                str(exc),
                traceback.format_exception(type(exc), exc, exc.__traceback__)[-5:],
            )
        payload = json.dumps(outcome.result, default=str)
        if invocation_type != "Event" and len(payload.encode()) > SYNC_RESPONSE_LIMIT:
            with self._lock:
                self.stats.oversized_responses[runtime.logical_id] += 1
            if not self.lenient:
                return self._error(
                    runtime,
                    event,
                    "Function.ResponseSizeTooLarge",
                    "Response payload size exceeded maximum allowed payload size "
                    f"({SYNC_RESPONSE_LIMIT} bytes).",
                )
        with self._lock:
            self.stats.history.append(Invocation(runtime.logical_id, event, outcome.result, False))
        return payload, False, ""

    def _record_duration(self, runtime: FunctionRuntime, seconds: float) -> None:
        with self._lock:
            stats = self.stats
            stats.max_seconds[runtime.logical_id] = max(
                stats.max_seconds[runtime.logical_id], seconds
            )
            if seconds > runtime.timeout_seconds:  # only possible under --lenient
                stats.over_timeout[runtime.logical_id] += 1

    def abandoned_running(self) -> Counter[str]:
        """Timed-out invocations whose threads still run (frozen: they reach nothing)."""
        with self._lock:
            return Counter(name for name, thread in self.abandoned if thread.is_alive())

    def _error(
        self,
        runtime: FunctionRuntime,
        event: Any,
        error_type: str,
        message: str,
        stack: list[str] | None = None,
    ) -> tuple[str, bool, str]:
        with self._lock:
            self.stats.errors[runtime.logical_id] += 1
            self.stats.error_types[error_type] += 1
        payload = {"errorMessage": message, "errorType": error_type, "stackTrace": stack or []}
        with self._lock:
            self.stats.history.append(Invocation(runtime.logical_id, event, payload, True))
        return json.dumps(payload), True, ""


def _install_request_capture() -> None:
    """Hand the invocation type and the request's size from moto's LambdaFunction.invoke to
    the dispatcher (idempotent), and take over moto's response size check, which measures
    ``sys.getsizeof`` against 6,000,000 bytes: the dispatcher applies Lambda's own."""
    from moto.awslambda import responses
    from moto.awslambda.models import LambdaFunction

    if getattr(LambdaFunction, "_sluice_request_capture", False):
        return
    original = LambdaFunction.invoke

    def invoke(fn: Any, body: Any, request_headers: Any, response_headers: Any) -> Any:
        previous = getattr(_request, "invocation_type", ""), getattr(_request, "size", None)
        _request.invocation_type = _invocation_type(request_headers)
        raw = body.encode() if isinstance(body, str) else body
        _request.size = len(raw) if isinstance(raw, bytes) else None
        try:
            return original(fn, body, request_headers, response_headers)
        finally:
            _request.invocation_type, _request.size = previous

    function: Any = LambdaFunction  # monkeypatched on purpose
    function.invoke = invoke
    function._sluice_request_capture = True
    module: Any = responses
    module.sys = _NoSizeOf()


class _NoSizeOf:
    """Stands in for ``sys`` in moto's Lambda responses module, whose only use is that check."""

    @staticmethod
    def getsizeof(_: object) -> int:
        return 0
