"""Deeply nested JSON parsed as Lambda's Python parses it."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest


@pytest.fixture(params=[None, 20_000], ids=["this interpreter", "Python 3.13's deeper parser"])
def recursion_limit(request: pytest.FixtureRequest) -> Iterator[None]:
    """CPython 3.11's json parser gives up near 1,000 levels; Lambda's 3.13 parses several
    thousand. A higher recursion limit here lets 3.11 parse as deep, so a test sees what the
    function sees in Lambda."""
    before = sys.getrecursionlimit()
    if request.param:
        sys.setrecursionlimit(request.param)
    yield
    sys.setrecursionlimit(before)
