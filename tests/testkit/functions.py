"""A function's code root and the common layer on sys.path, as Lambda lays them out, and the
``fresh_handler`` fixture of its unit-test folder: one definition for every folder's conftest."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from sluice_local.handlers import Handler, load_handler

ROOT = Path(__file__).resolve().parents[2]
LAYERS = [ROOT / "layers/common"]
HANDLER = "app.lambda_handler"


def function_under_test(name: str) -> Callable[..., Callable[[], Handler]]:
    """Loads functions/<name>/app.py once (so the folder's tests can import the function's
    modules) and returns the folder's ``fresh_handler`` fixture, for its conftest to bind:
    ``fresh_handler = function_under_test("process_object")``."""
    code_dir = ROOT / "functions" / name
    load_handler(code_dir, HANDLER, LAYERS)

    @pytest.fixture
    def fresh_handler() -> Callable[[], Handler]:
        """A cold start: the handler module loaded anew (a container of its own), so its
        per-container caches (settings, clients, pools) are new."""
        return lambda: load_handler(code_dir, HANDLER, LAYERS, container=uuid.uuid4().hex)

    return fresh_handler
