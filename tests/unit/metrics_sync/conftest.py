"""MetricsSync's code root and the common layer on sys.path, as Lambda lays them out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sluice_local.servers.dynatrace import DynatraceServer
from testkit.functions import function_under_test

TOKEN = "dt0c01.TESTTOKEN.0123456789"

fresh_handler = function_under_test("metrics_sync")


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
