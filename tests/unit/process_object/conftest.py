"""ProcessObject's code root and the common layer on sys.path, as Lambda lays them out."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sluice_local.downstream import DownstreamServer
from sluice_local.handlers import Handler, load_handler

ROOT = Path(__file__).resolve().parents[3]
CODE_DIR = ROOT / "functions/process_object"
LAYERS = [ROOT / "layers/common"]

load_handler(CODE_DIR, "app.lambda_handler", LAYERS)


@pytest.fixture
def fresh_handler() -> Callable[[], Handler]:
    """A cold start: the handler module loaded anew, so its cached settings/clients are new."""
    return lambda: load_handler(CODE_DIR, "app.lambda_handler", LAYERS, container=uuid.uuid4().hex)


@pytest.fixture
def api() -> Iterator[DownstreamServer]:
    with DownstreamServer(seed=7) as server:
        yield server


@pytest.fixture
def s3() -> Iterator[Any]:
    import boto3
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="sluice-demo-bucket")
        yield client


class Sleeps(list[float]):
    """A sleep() that records instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()
