"""MetricsSync's code root and the common layer on sys.path, as Lambda lays them out."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sluice_local.handlers import Handler, load_handler
from sluice_local.servers.dynatrace import DynatraceServer

ROOT = Path(__file__).resolve().parents[3]
CODE_DIR = ROOT / "functions/metrics_sync"
LAYERS = [ROOT / "layers/common"]
TOKEN = "dt0c01.TESTTOKEN.0123456789"

load_handler(CODE_DIR, "app.lambda_handler", LAYERS)


@pytest.fixture
def fresh_handler() -> Callable[[], Handler]:
    """A cold start: the handler module loaded anew, so its cached settings/clients are new."""
    return lambda: load_handler(CODE_DIR, "app.lambda_handler", LAYERS, container=uuid.uuid4().hex)


@pytest.fixture
def dynatrace() -> Iterator[DynatraceServer]:
    with DynatraceServer(token=TOKEN) as server:
        yield server


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    """Moto CloudWatch and Secrets Manager; Powertools' secret cache emptied around each test."""
    import boto3
    from aws_lambda_powertools.utilities import parameters
    from moto import mock_aws

    parameters.clear_caches()
    with mock_aws():
        yield {
            "cloudwatch": boto3.client("cloudwatch", region_name="us-east-1"),
            "secretsmanager": boto3.client("secretsmanager", region_name="us-east-1"),
        }
    parameters.clear_caches()


class Sleeps(list[float]):
    """A sleep() that records instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()
