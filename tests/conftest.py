"""Shared test setup: no AWS account, no real credentials, no X-Ray daemon."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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


@pytest.fixture
def lambda_context() -> object:
    from sluice_local.context import LambdaContext

    return LambdaContext(function_name="test-function", timeout_seconds=30)
