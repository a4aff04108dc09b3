"""Event times: ISO 8601 with a zone in, a UTC instant to the millisecond out.

The one parser for every pipeline (a payment's ``occurredAt``, a stream event's ``timestamp``),
so the same text is the same instant wherever it is sent.

Grammar: ``YYYY-MM-DDTHH:MM[:SS[.fraction]]`` then ``Z``, ``±HH:MM``, ``±HHMM`` or ``±HH``
(upper-case ``T`` and ``Z``), the ISO 8601 forms producers send. A time without a zone is
refused: guessing one would shift the instant by hours.

Precision: milliseconds, the fraction cut (not rounded). Both pipelines store the time as
``YYYY-MM-DDTHH:MM:SS.mmmZ`` (:func:`utc_text`) and sort and compare the stored text, so the
instant is cut to what is stored *before* it is judged against the future bound: a time is
accepted exactly when the time stored for it is within the bound. (Rounding instead would
move ``.9999`` into the next second, and the next day at midnight.)
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Final

from sluice_common.errors import SluiceError
from sluice_common.payments import describe, shown

FUTURE_TOLERANCE: Final = timedelta(minutes=5)  # producers' clocks run a little ahead
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

_TIME: Final = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})"
    r"T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.(?P<fraction>\d{1,9}))?)?"
    r"(?P<zone>Z|[+-]\d{2}(?::?\d{2})?)?",
    re.ASCII,
)


def utc_text(moment: datetime) -> str:
    """``moment`` as UTC ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (milliseconds cut, not rounded): fixed
    width, so the stored times sort as they happened."""
    moment = moment.astimezone(UTC)
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:"
        f"{moment.minute:02d}:{moment.second:02d}.{moment.microsecond // 1000:03d}Z"
    )


def parse_utc(
    value: object,
    field: str,
    error: type[SluiceError],
    *,
    now: datetime,
    ahead: str,
    example_day: str,
    zone_word: str = "zone",
) -> datetime:
    """``value`` (ISO 8601 with a zone) as a UTC datetime cut to whole milliseconds.

    ``error`` (the caller's error type, so its workflow or mapping still matches on the name)
    says why it is not one; more than :data:`FUTURE_TOLERANCE` after ``now`` is refused too,
    the message ending with ``ahead`` (``{now}`` in it is ``now`` as :func:`utc_text`).
    ``example_day`` and ``zone_word`` are how the caller's messages have always spelt the
    example and the zone, kept so a reason an operator searches for does not change.
    """
    if not isinstance(value, str):
        raise error(
            f"{field} must be an ISO 8601 time string like '{example_day}T10:41:55.187Z', "
            f"got {describe(value)}"
        )
    seen = shown(value)
    match = _TIME.fullmatch(value)
    if match is None:
        raise error(
            f"{field} {seen} is not an ISO 8601 time with a {zone_word} (expected e.g. "
            f"'{example_day}T10:41:55.187Z' or '{example_day}T11:41:55+01:00')"
        )
    parts = match.groupdict()
    if parts["zone"] is None:
        raise error(
            f"{field} {seen} has no {zone_word}; add 'Z' (UTC) or an offset such as '+01:00'"
        )
    try:
        zone = UTC if parts["zone"] == "Z" else _offset(parts["zone"])
        millis = (parts["fraction"] or "").ljust(3, "0")[:3]  # cut, not rounded
        moment = datetime(
            int(parts["year"]),
            int(parts["month"]),
            int(parts["day"]),
            int(parts["hour"]),
            int(parts["minute"]),
            int(parts["second"] or 0),
            int(millis) * 1000,
            tzinfo=zone,
        ).astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise error(f"{field} {seen} is not a valid time: {exc}") from None
    if moment > now + FUTURE_TOLERANCE:
        minutes = int(FUTURE_TOLERANCE.total_seconds() // 60)
        raise error(
            f"{field} {seen} is more than {minutes} minutes " + ahead.format(now=utc_text(now))
        )
    return moment


def _offset(text: str) -> timezone:
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError(f"offset {text} is out of range (-23:59..+23:59)")
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if text[0] == "-" else delta)
