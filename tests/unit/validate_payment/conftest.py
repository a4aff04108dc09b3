"""ValidatePayment's code root and the common layer on sys.path, as Lambda lays them out."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from sluice_local.handlers import Handler, load_handler

ROOT = Path(__file__).resolve().parents[3]
CODE_DIR = ROOT / "functions/validate_payment"
LAYERS = [ROOT / "layers/common"]

load_handler(CODE_DIR, "app.lambda_handler", LAYERS)


@pytest.fixture
def fresh_handler() -> Callable[[], Handler]:
    """A cold start: the handler module loaded anew, so its per-container caches are new."""
    return lambda: load_handler(CODE_DIR, "app.lambda_handler", LAYERS, container=uuid.uuid4().hex)
