"""Fixtures of the sluice_ops tests."""

from __future__ import annotations

from typing import Any

import pytest
from doctor_answers import TEMPLATE

from sluice_ops import doctor


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    """The shipped template.yaml, as `sluice doctor` reads it."""
    return doctor.load_template(TEMPLATE)
