"""Step Functions' limits, refused as AWS refuses them (strict: off under the runtime's lenient
mode, see :data:`sluice_local.emulator.fixes.STRICT`): errors no Catch may catch, the state
data size limit and the Express execution's duration.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from sluice_local.emulator import fixes


def install_uncatchable_errors() -> None:
    """Strict. In AWS, States.ALL in a Catch or Retry matches neither States.DataLimitExceeded
    (a state's data over 256 KiB: only a catcher or retrier naming it sees it) nor States.Runtime
    (never retried or caught: the execution fails). moto's States.ALL matched both."""
    from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import (
        ErrorEqualsDecl,
    )

    original = ErrorEqualsDecl._eval_body

    def _eval_body(self: Any, env: Any) -> None:
        name = getattr(env.stack[-1], "error_name", None) if env.stack else None
        named = any(n.error_name == name for n in self.error_names)
        if fixes.STRICT and (
            name == "States.Runtime" or (name == "States.DataLimitExceeded" and not named)
        ):
            env.stack.pop()
            env.stack.append(False)
            return
        original(self, env)

    ErrorEqualsDecl._eval_body = _eval_body  # type: ignore[method-assign]


def _state_data_size(value: Any) -> int:
    """The bytes Step Functions counts: the value as compact JSON, UTF-8 encoded."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    return len(text.encode("utf-8"))


def _data_limit_failure(env: Any, cause: str) -> Exception:
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
        StatesErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    error = StatesErrorNameType.StatesStatesDataLimitExceeded
    return FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=StatesErrorName(typ=error),
            event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(  # type: ignore[typeddict-item]  # total in moto
                taskFailedEventDetails=TaskFailedEventDetails(error=error.to_name(), cause=cause)
            ),
        )
    )


def install_state_data_limit() -> None:
    """Strict. Step Functions refuses a state's input (after Parameters) or output, or a Task's
    result, over 256 KiB of UTF-8 JSON with States.DataLimitExceeded. moto checks outputs and
    results only, measuring JSON with spaces after separators and non-ASCII escaped (an array of
    small numbers counted ~40% over: refused where AWS accepts) and refusing exactly 256 KiB.
    Measure as AWS does, and check what a Task sends too."""
    import importlib

    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import StateTask
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import (
        StateTaskLambda,
    )

    def within(value: Any) -> bool:
        return not fixes.STRICT or _state_data_size(value) <= fixes.STATE_DATA_LIMIT_BYTES

    prefix = "moto.stepfunctions.parser.asl.component.state."
    for module in (
        "state",
        "exec.state_task.state_task_lambda",
        "exec.state_task.service.state_task_service",
    ):
        importlib.import_module(prefix + module).is_within_size_quota = within  # type: ignore[attr-defined]

    for cls in (StateTask, StateTaskLambda):

        def _eval_parameters(self: Any, env: Any, _original: Any = cls._eval_parameters) -> Any:
            parameters = _original(self, env)
            sent = parameters.get("Payload") if isinstance(self, StateTaskLambda) else parameters
            if not within(sent):
                raise _data_limit_failure(
                    env,
                    f"The state/task '{self.name}' has an input (after Parameters) larger than "
                    "the maximum number of bytes service limit.",
                )
            return parameters

        cls._eval_parameters = _eval_parameters  # type: ignore[method-assign]


class _ExpressClock:
    """One Express execution's deadline, in wall-clock (monotonic) seconds; a Wait that would
    outlast it brings it forward."""

    def __init__(self, limit_s: float) -> None:
        self.limit = self.deadline = time.monotonic() + limit_s
        self.done = False
        self.changed = threading.Event()

    def cut(self, at: float) -> None:
        self.deadline = min(self.deadline, at)
        self.changed.set()


def install_express_limit() -> None:
    """Strict. An Express execution ends TIMED_OUT (ExecutionTimedOut) 5 minutes after it
    started, or at its TimeoutSeconds if shorter; moto runs it for as long as it takes. The limit
    is on the wall clock, as the execution's own clock is; but a Wait is time-scaled here, so a
    Wait that would carry the execution past its limit by that clock (AWS would still be waiting
    at 5 minutes) times it out once its scaled part up to the limit has passed."""
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
    from moto.stepfunctions.parser.asl.component.program.program import Program
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (
        WaitFunction,
    )
    from moto.stepfunctions.parser.asl.eval.evaluation_details import StateMachineDetails
    from moto.stepfunctions.parser.backend.execution import Execution
    from moto.stepfunctions.parser.utils import TMP_THREADS

    from sluice_local.emulator import timescale

    original_eval = Program.eval

    def eval_program(self: Any, env: Any) -> None:
        if not fixes.STRICT or env.is_frame() or env.execution_type != "EXPRESS":
            original_eval(self, env)
            return
        own = self.timeout_seconds.timeout_seconds if self.timeout_seconds else None
        clock = _ExpressClock(min(own or fixes.EXPRESS_LIMIT_SECONDS, fixes.EXPRESS_LIMIT_SECONDS))
        env.event_manager.sluice_express_clock = clock  # shared with every frame (Map, Parallel)
        env.next_state_name = self.start_at.start_at_name

        def run() -> None:
            try:
                EvalComponent.eval(self, env)
            finally:
                clock.done = True
                clock.changed.set()

        worker = threading.Thread(target=run, daemon=True)
        TMP_THREADS.append(worker)
        worker.start()
        while not clock.done:
            remaining = clock.deadline - time.monotonic()
            if remaining <= 0:
                env.set_timed_out()  # as moto does at TimeoutSeconds: the worker stops at once
                return
            clock.changed.wait(remaining)
            clock.changed.clear()

    Program.eval = eval_program  # type: ignore[method-assign]

    # moto gives every state machine sm_type "STANDARD" (its real type is in .type): hand the
    # execution's environment the real one.
    def state_machine_details(self: Any) -> StateMachineDetails:
        machine = self.state_machine
        return StateMachineDetails(
            arn=machine.arn,
            name=machine.name,
            typ=getattr(machine, "type", None) or machine.sm_type,
            definition=machine.definition,
        )

    Execution.get_start_state_machine_details = state_machine_details  # type: ignore[method-assign]

    original_wait = WaitFunction._eval_body

    def wait_body(self: Any, env: Any) -> None:
        clock = getattr(env.event_manager, "sluice_express_clock", None)
        if not fixes.STRICT or clock is None:
            original_wait(self, env)
            return
        seconds = self._get_wait_seconds(env=env)
        now = time.monotonic()
        if now + seconds > clock.limit:
            clock.cut(now + max(0.0, clock.limit - now) * timescale.current_scale())
        self._wait_interval(env=env, wait_seconds=seconds)

    WaitFunction._eval_body = wait_body  # type: ignore[method-assign]
