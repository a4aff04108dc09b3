"""template.yaml deployed on the local runtime, once per test module: the ``pipeline`` fixture
the e2e and integration modules bind with the template parameters they need."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sluice_local.emulator.runtime import LocalPipeline

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"

# The payment pipeline on, each event started as it arrives (no batching window).
PAYMENTS_ON = {"EnablePaymentPipeline": "true", "PaymentBatchWindowSeconds": "0"}


def pipeline_fixture(
    overrides: dict[str, str], *, secrets: dict[str, str] | None = None, time_scale: float = 0.02
) -> Callable[..., Iterator[LocalPipeline]]:
    """A module-scoped fixture: template.yaml with ``overrides`` (and ``secrets``) deployed
    locally for the module's tests, stopped after the last one. Bind it as ``pipeline``:
    ``pipeline = pipeline_fixture(PAYMENTS_ON)``."""

    @pytest.fixture(scope="module")
    def pipeline() -> Iterator[LocalPipeline]:
        with LocalPipeline(TEMPLATE, overrides, time_scale=time_scale, secrets=secrets) as deployed:
            yield deployed

    return pipeline
