"""Checks of an event's fields that the payment and stream pipelines share.

Each takes the error type to raise (InvalidPayment, InvalidStreamEvent, ...), so a step's
failures keep the error name its workflow or mapping matches on.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sluice_common.errors import SluiceError
from sluice_common.payments import ID_PATTERN, MAX_ID_LENGTH, describe, shown


def required(event: Mapping[str, Any], field: str, error: type[SluiceError]) -> Any:
    """The field's value; missing or null is ``error``."""
    if field not in event:
        raise error(f"{field} is missing")
    value = event[field]
    if value is None:
        raise error(f"{field} is null; it is required")
    return value


def identifier(event: Mapping[str, Any], field: str, error: type[SluiceError]) -> str:
    """An id: 1..MAX_ID_LENGTH characters of A-Z a-z 0-9 . _ : -"""
    value = required(event, field, error)
    if not isinstance(value, str):
        raise error(f"{field} must be a string, got {describe(value)}")
    if not value:
        raise error(f"{field} is empty")
    if len(value) > MAX_ID_LENGTH:
        raise error(f"{field} has {len(value)} characters; at most {MAX_ID_LENGTH} are allowed")
    if not ID_PATTERN.fullmatch(value):
        bad = next(char for char in value if not ID_PATTERN.fullmatch(char))
        raise error(
            f"{field} {shown(value)} contains {bad!r}; only A-Z, a-z, 0-9 and . _ : - are allowed"
        )
    return value


def utc_text(moment: datetime) -> str:
    """``moment`` as UTC ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (milliseconds cut, not rounded): fixed
    width, so the stored times sort as they happened."""
    moment = moment.astimezone(UTC)
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:"
        f"{moment.minute:02d}:{moment.second:02d}.{moment.microsecond // 1000:03d}Z"
    )
