"""Lambda's own AWS/Lambda metrics, as the dispatcher publishes them when asked (`sluice-local
up`): Invocations and Errors per invocation, Duration, Throttles for a throttled request (which
is no invocation), ConcurrentExecutions as the instances busy when one starts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sluice_local.emulator.invocations import FunctionRuntime
from sluice_local.emulator.invoker import Dispatcher

HANDLER = """
def lambda_handler(event, context):
    if event.get("fail"):
        raise ValueError("bad row")
    return {"ok": True}
"""


@pytest.fixture
def dispatcher(tmp_path: Path) -> Iterator[tuple[Dispatcher, list[dict[str, Any]]]]:
    code = tmp_path / "metrics_fn"
    code.mkdir()
    (code / "app.py").write_text(HANDLER)
    published: list[dict[str, Any]] = []
    dispatcher = Dispatcher()
    dispatcher.lambda_metrics = published.extend
    dispatcher.install()
    try:
        dispatcher.register(
            FunctionRuntime(
                function_name="sluice-Metrics",
                logical_id="MetricsFunction",
                code_dir=code,
                handler="app.lambda_handler",
                layer_dirs=(),
                environment={},
                timeout_seconds=5,
                memory_mb=128,
            )
        )
        yield dispatcher, published
    finally:
        dispatcher.uninstall()


def sums(published: list[dict[str, Any]]) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for datum in published:
        assert datum["Dimensions"] == [{"Name": "FunctionName", "Value": "sluice-Metrics"}]
        totals[datum["MetricName"]] += datum["Value"]
    return dict(totals)


def test_each_invocation_counts_once_and_a_function_error_counts_as_an_error(
    dispatcher: tuple[Dispatcher, list[dict[str, Any]]],
) -> None:
    run, published = dispatcher
    assert run.invoke("sluice-Metrics", {})[1] is False
    assert run.invoke("sluice-Metrics", {"fail": True})[1] is True
    totals = sums(published)
    assert totals["Invocations"] == 2
    assert totals["Errors"] == 1
    assert totals["ConcurrentExecutions"] == 2  # one busy instance as each started
    durations = [d for d in published if d["MetricName"] == "Duration"]
    assert len(durations) == 2
    assert all(d["Unit"] == "Milliseconds" and d["Value"] >= 0 for d in durations)


def test_a_throttled_request_is_a_throttle_not_an_invocation(
    dispatcher: tuple[Dispatcher, list[dict[str, Any]]],
) -> None:
    run, published = dispatcher
    run.throttle_hook = lambda logical_id, event: True
    with pytest.raises(Exception, match="Rate Exceeded"):
        run.invoke("sluice-Metrics", {})
    assert sums(published) == {"Throttles": 1}
    assert run.stats.in_flight["MetricsFunction"] == 0
