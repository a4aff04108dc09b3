"""A handler test's view of one function: the handler, a Lambda context, the sample events, and
the log lines and metrics the handler wrote, as one fixture value; and the check every payment
step's rejection passes.

A test module builds it from its own handler fixture::

    @pytest.fixture
    def run(fresh_handler: Callable[[], Handler], request: pytest.FixtureRequest) -> StepRun:
        return StepRun.of(request, fresh_handler())
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from sluice_common.errors import InvalidPayment
from sluice_local.handlers import Handler

Event = dict[str, Any]
LogLine = dict[str, Any]


@dataclass(frozen=True)
class StepRun:
    handler: Handler
    context: Any
    sample: Callable[[str], Event]  # a sample event from events/
    logs: Callable[[], list[LogLine]]  # the JSON log lines written so far
    metrics: Callable[[], dict[str, Any]]  # the last EMF line's metrics

    @classmethod
    def of(cls, request: pytest.FixtureRequest, handler: Handler) -> StepRun:
        """Takes the shared fixtures now, before the handler runs: the metrics are read from
        captured stdout, and capture starts when the fixture does."""
        fixture = request.getfixturevalue
        return cls(
            handler,
            fixture("lambda_context"),
            fixture("sample_event"),
            fixture("logs"),
            fixture("emitted_metrics"),
        )

    def __call__(self, event: Any) -> Any:
        return self.handler(event, self.context)

    def logged(self, message: str) -> list[LogLine]:
        """The log lines with this message."""
        return [line for line in self.logs() if line["message"] == message]


def rejected(run: StepRun, step_input: Any) -> InvalidPayment:
    """What a payment step raises for ``step_input``, checked to be InvalidPayment (the name the
    workflow dead-letters on), counted as PaymentsRejected and logged once as a warning with
    the reason."""
    with pytest.raises(InvalidPayment) as caught:
        run(step_input)
    assert run.metrics() == {"PaymentsRejected": [1.0]}
    [warning] = [line for line in run.logs() if line["level"] == "WARNING"]
    assert (warning["message"], warning["error"], warning["reason"]) == (
        "payment rejected",
        "InvalidPayment",
        str(caught.value),
    )
    return caught.value
