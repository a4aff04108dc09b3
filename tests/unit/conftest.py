"""Fixtures every function's handler tests share (each folder's conftest puts its function's
code root and the layer on sys.path, and gives ``fresh_handler``)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from testkit.fakes import Sleeps


@pytest.fixture
def logs() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The JSON log lines the handler writes (Powertools' handler, its formatter, a buffer)."""
    from sluice_common.observability import logger

    buffer = io.StringIO()
    previous = logger.registered_handler.setStream(buffer)  # type: ignore[attr-defined]
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines() if line]
    logger.registered_handler.setStream(previous)


@pytest.fixture
def emitted_metrics(capsys: pytest.CaptureFixture[str]) -> Callable[[], dict[str, Any]]:
    """The metrics of the last EMF line the handler printed (use with `logs`, which keeps log
    lines off stdout): metric name -> values."""

    def read() -> dict[str, Any]:
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
        emf = [line for line in lines if "_aws" in line]
        assert emf, "the handler printed no metrics"
        names = [m["Name"] for m in emf[-1]["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
        return {name: emf[-1][name] for name in names}

    return read


@pytest.fixture
def sleeps() -> Sleeps:
    """A sleep() that records the delays asked of it instead of waiting."""
    return Sleeps()
