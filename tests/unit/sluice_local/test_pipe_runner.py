"""The local Pipes runner stops with the runtime, even while it waits on an execution."""

from __future__ import annotations

import threading
import time
from typing import Any

from sluice_local.sources.pipes import PipeConfig, PipeRunner


class _Queue:
    def __init__(self) -> None:
        self.sent = False

    def receive_message(self, **_: Any) -> dict[str, Any]:
        if self.sent:
            return {}
        self.sent = True
        return {"Messages": [{"MessageId": "m-1", "ReceiptHandle": "r-1", "Body": "{}"}]}

    def change_message_visibility_batch(self, **_: Any) -> None:
        raise AssertionError("a stopped runner leaves the batch as it is")

    def delete_message_batch(self, **_: Any) -> None:
        raise AssertionError("a batch whose execution never ended is not deleted")


class _ForeverRunning:
    def __init__(self) -> None:
        self.described = 0

    def start_execution(self, **_: Any) -> dict[str, str]:
        return {"executionArn": "arn:aws:states:us-east-1:123456789012:execution:sm:x"}

    def describe_execution(self, **_: Any) -> dict[str, str]:
        self.described += 1
        return {"status": "RUNNING"}


def test_a_runner_waiting_on_an_execution_ends_when_stopped() -> None:
    config = PipeConfig(
        logical_id="PaymentPipe",
        source_queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/q",
        source_queue_arn="arn:aws:sqs:us-east-1:123456789012:q",
        target_arn="arn:aws:states:us-east-1:123456789012:stateMachine:sm",
        batch_size=1,
        batching_window_s=0,
        visibility_timeout_s=30,
        region="us-east-1",
    )
    stop, sfn = threading.Event(), _ForeverRunning()
    runner = PipeRunner(config, _Queue(), sfn, stop)
    runner.start()
    deadline = time.monotonic() + 5
    while sfn.described == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sfn.described, "the runner never started waiting on its execution"
    stop.set()
    runner.join(timeout=2)
    assert runner._thread is not None and not runner._thread.is_alive()
