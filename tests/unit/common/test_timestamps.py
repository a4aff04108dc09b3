"""One time parser for both pipelines: the same text is the same instant, to the millisecond,
whether a payment's occurredAt or a stream event's timestamp, and both judge the future bound
on the instant they store."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sluice_common.errors import InvalidPayment, InvalidStreamEvent, SluiceError
from sluice_common.timestamps import FUTURE_TOLERANCE, parse_utc, utc_text

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def function_module(folder: str, name: str) -> ModuleType:
    """A function's domain module, importable as Lambda lays the function out."""
    path = str(ROOT / "functions" / folder)
    if path not in sys.path:
        sys.path.insert(0, path)
    return importlib.import_module(name)


def pipelines() -> dict[str, Callable[[str], str]]:
    """Each pipeline's reading of a time, as the UTC text it stores."""
    payments = function_module("validate_payment", "payment_validation")
    streams = function_module("process_stream", "stream_events")
    return {
        "payment": lambda text: payments.normalize_occurred_at(text, now=NOW),
        "stream": lambda text: utc_text(streams.parse_timestamp(text, now=NOW)),
    }


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("2026-11-02T10:41:55.187Z", "2026-11-02T10:41:55.187Z"),
        ("2026-11-02T11:41:55.187+01:00", "2026-11-02T10:41:55.187Z"),
        ("2026-11-02T11:41:55.187+0100", "2026-11-02T10:41:55.187Z"),
        ("2026-11-02T11:41:55.187+01", "2026-11-02T10:41:55.187Z"),
        ("2026-11-01T23:30-05:00", "2026-11-02T04:30:00.000Z"),
        ("2026-11-02T09:41:55.1879999Z", "2026-11-02T09:41:55.187Z"),  # cut, not rounded
        ("2026-11-01T23:59:59.999999-00:00", "2026-11-01T23:59:59.999Z"),  # not the next day
        ("2026-11-02T09:41:55.5Z", "2026-11-02T09:41:55.500Z"),
    ],
)
def test_both_pipelines_store_the_same_instant_for_the_same_text(text: str, stored: str) -> None:
    assert {name: read(text) for name, read in pipelines().items()} == {
        "payment": stored,
        "stream": stored,
    }


@given(
    st.datetimes(datetime(2000, 1, 1), datetime(2026, 11, 2), timezones=st.just(UTC)),
    st.integers(-23 * 60 - 59, 23 * 60 + 59),
    st.integers(0, 9),
)
def test_any_written_time_is_one_instant_in_both_pipelines(
    moment: datetime, offset_minutes: int, fraction_digits: int
) -> None:
    local = moment.astimezone(timezone(timedelta(minutes=offset_minutes)))
    fraction = f"{local.microsecond:06d}000"[:fraction_digits]
    text = local.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "")
    text += local.strftime("%z")[:3] + ":" + local.strftime("%z")[3:]
    read = pipelines()
    assert read["payment"](text) == read["stream"](text)


@pytest.mark.parametrize(
    ("ahead", "accepted"),
    [
        (FUTURE_TOLERANCE, True),
        (FUTURE_TOLERANCE + timedelta(microseconds=999), True),  # stored as the bound itself
        (FUTURE_TOLERANCE + timedelta(milliseconds=1), False),
    ],
)
def test_both_pipelines_judge_the_future_bound_on_the_stored_millisecond(
    ahead: timedelta, accepted: bool
) -> None:
    text = (NOW + ahead).isoformat()
    for name, read in pipelines().items():
        if accepted:
            assert read(text) == utc_text(NOW + ahead), name
        else:
            with pytest.raises((InvalidPayment, InvalidStreamEvent), match="more than 5 minutes"):
                read(text)


class Refused(SluiceError):
    pass


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (17, "when must be an ISO 8601 time string like '2026-01-31T10:41:55.187Z', got a number"),
        ("2026-01-31 10:00Z", "when '2026-01-31 10:00Z' is not an ISO 8601 time with a zone"),
        ("2026-01-31T10:00", "when '2026-01-31T10:00' has no zone; add 'Z' (UTC) or an offset"),
        ("2026-01-31T10:00-24:00", "when '2026-01-31T10:00-24:00' is not a valid time: offset"),
        ("2026-02-30T10:00Z", "when '2026-02-30T10:00Z' is not a valid time: day is out of"),
        ("2026-11-02T12:06Z", "when '2026-11-02T12:06Z' is more than 5 minutes late at 12:00"),
    ],
)
def test_a_refusal_is_the_callers_error_naming_the_field(value: object, reason: str) -> None:
    with pytest.raises(Refused) as caught:
        parse_utc(value, "when", Refused, now=NOW, ahead="late at 12:00", example_day="2026-01-31")
    assert str(caught.value).startswith(reason)


def test_utc_text_is_fixed_width_and_cuts_to_the_millisecond() -> None:
    moment = datetime(987, 6, 5, 4, 3, 2, 999_999, tzinfo=timezone(timedelta(hours=1)))
    assert utc_text(moment) == "0987-06-05T03:03:02.999Z"
