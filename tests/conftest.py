"""Shared test setup: no AWS account, no real credentials, no X-Ray daemon."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

for _name, _value in {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "POWERTOOLS_SERVICE_NAME": "sluice",
    "POWERTOOLS_METRICS_NAMESPACE": "Sluice",
    "POWERTOOLS_TRACE_DISABLED": "true",
}.items():
    os.environ[_name] = _value

ROOT = Path(__file__).resolve().parents[1]

# Property tests: a few hundred cases each in `make test`; `make test-long` runs the "long"
# profile (10,000 cases per property test) and prints hypothesis' statistics.
settings.register_profile("sluice", max_examples=150, deadline=None)
settings.register_profile(
    "long",
    max_examples=10_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("SLUICE_HYPOTHESIS_PROFILE", "sluice"))


@pytest.fixture
def lambda_context() -> object:
    from sluice_local.emulator.context import LambdaContext

    return LambdaContext(function_name="test-function", timeout_seconds=30)


@pytest.fixture
def sample_event() -> Callable[[str], dict[str, Any]]:
    """A sample event from events/ (what `sam local invoke -e` sends)."""

    def load(name: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((ROOT / "events" / name).read_text())
        return loaded

    return load
