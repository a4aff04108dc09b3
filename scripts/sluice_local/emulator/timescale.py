"""Run the emulator's clocks faster: Wait states, Retry intervals, SQS long polls, schedules.

Time scale 0.1 means a 10-second Wait takes one second. Only waiting is scaled; the pipeline's
logic, ordering and numbers are unchanged. The runtime prints the scale it runs at.
"""

from __future__ import annotations

import time
import types
from typing import Any

_state: dict[str, Any] = {"scale": 1.0, "installed": False}


def current_scale() -> float:
    return float(_state["scale"])


def set_time_scale(scale: float) -> None:
    if not 0 < scale <= 1:
        raise ValueError(f"time scale must be in (0, 1], got {scale}")
    _state["scale"] = scale
    if not _state["installed"]:
        _install()
        _state["installed"] = True


def _install() -> None:
    from moto.sqs.models import SQSBackend
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (
        WaitFunction,
    )

    def _wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
        if wait_seconds > 0:
            env.program_state_event.wait(wait_seconds * current_scale())

    WaitFunction._wait_interval = _wait_interval  # type: ignore[method-assign]

    # retrier_decl calls time.sleep(interval): give it a time module whose sleep is scaled.
    scaled_time = types.SimpleNamespace(**{n: getattr(time, n) for n in dir(time) if n[0] != "_"})
    scaled_time.sleep = lambda seconds: time.sleep(seconds * current_scale())
    retrier_decl.time = scaled_time  # type: ignore[assignment]

    original_receive = SQSBackend.receive_message

    def receive_message(
        self: Any, queue_name: str, count: int, wait_seconds_timeout: int, *args: Any, **kwargs: Any
    ) -> Any:
        scaled = wait_seconds_timeout * current_scale() if wait_seconds_timeout else 0
        return original_receive(self, queue_name, count, scaled, *args, **kwargs)  # type: ignore[arg-type]

    SQSBackend.receive_message = receive_message  # type: ignore[method-assign]
