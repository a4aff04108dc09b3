"""A Lambda-like context object for handlers run in-process."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LambdaContext:
    function_name: str
    timeout_seconds: float = 3.0  # the function's Timeout, in real seconds (never time-scaled)
    memory_limit_in_mb: int = 128
    function_version: str = "$LATEST"
    region: str = "us-east-1"
    account_id: str = "123456789012"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _deadline: float = 0.0
    identity: Any = None  # Cognito identity: only for mobile SDK invocations
    client_context: Any = None  # only for synchronous invocations that pass one

    def __post_init__(self) -> None:
        # The clock starts when the invocation does; the dispatcher stops the invocation at
        # this same deadline, so what the handler is told is what it gets.
        self._deadline = time.monotonic() + self.timeout_seconds
        self.invoked_function_arn = (
            f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.function_name}"
        )
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = f"local/{self.aws_request_id}"

    @property
    def deadline(self) -> float:
        """``time.monotonic()`` at which the invocation times out."""
        return self._deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))
