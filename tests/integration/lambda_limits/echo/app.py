"""Answers with a payload of event["bytes"] bytes (JSON string of 'x's, quotes included)."""

from __future__ import annotations

from typing import Any


def handler(event: dict[str, Any], context: Any) -> str:
    return "x" * (int(event.get("bytes", 2)) - 2)
