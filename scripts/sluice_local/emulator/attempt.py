"""One attempt of an invocation, as Lambda runs it: the handler on a thread of its own in its
sandbox, with its environment and log, and the caller answered at the latest at the function's
Timeout, with Lambda's error payloads. A mixin of
:class:`sluice_local.emulator.invoker.Dispatcher`, which holds the state it uses."""

from __future__ import annotations

import json
import os
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sluice_local.emulator import sandbox
from sluice_local.emulator.context import LambdaContext
from sluice_local.emulator.faults import SimulatedCrash
from sluice_local.emulator.invocation_io import (
    Capture,
    LogSink,
    ThreadEnviron,
    ThreadStdout,
    reclaim_stdout,
)
from sluice_local.emulator.invocations import FunctionRuntime, Invocation, InvocationStats
from sluice_local.emulator.lambda_service import SYNC_RESPONSE_LIMIT
from sluice_local.handlers import load_handler

if TYPE_CHECKING:
    from sluice_local.emulator.invocations import LogShipper


@dataclass
class _Outcome:
    """What the invocation's thread hands back to the caller."""

    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None
    finished_at: float = 0.0


class Attempts:
    """The attempt half of the Dispatcher."""

    lenient: bool
    stats: InvocationStats
    abandoned: list[tuple[str, threading.Thread]]
    crash_hook: Any
    result_hook: Any
    log_shipper: LogShipper | None
    _lock: threading.Lock
    _sinks: dict[str, LogSink]
    _environ: ThreadEnviron | None
    _stdout: ThreadStdout | None
    _container: str

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
        capture = Capture(self._sinks.get(function_name), box)
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
        capture: Capture,
        box: sandbox.Sandbox,
        outcome: _Outcome,
    ) -> None:
        """The invocation's own thread: its sandbox, environment and stdout."""
        assert self._environ is not None and self._stdout is not None
        reclaim_stdout(self._stdout)
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
        capture: Capture,
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
