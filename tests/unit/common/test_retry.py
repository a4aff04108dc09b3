"""sluice_common.retry: full-jitter backoff, Retry-After (seconds or HTTP-date), retryable codes."""

from __future__ import annotations

import random
from email.utils import formatdate

import pytest

from sluice_common.retry import JITTER, RETRYABLE_STATUS, Backoff, parse_retry_after

NOW = 1_700_000_000.0


def test_backoff_is_full_jitter_under_an_exponential_cap() -> None:
    rng = random.Random(3)
    backoff = Backoff(max_attempts=10, base_s=0.1, cap_s=1.0)
    for attempt in range(1, 10):
        delays = [backoff.delay(attempt, rng) for _ in range(200)]
        ceiling = min(1.0, 0.1 * 2 ** (attempt - 1))
        assert min(delays) >= 0 and max(delays) <= ceiling
        assert min(delays) < ceiling / 4  # jitter reaches down near zero
        assert max(delays) > ceiling * 3 / 4  # and up near the ceiling


def test_the_delay_is_uniform_over_the_ceiling_drawn_from_the_given_generator() -> None:
    backoff = Backoff(max_attempts=5, base_s=0.5, cap_s=8)
    expected = random.Random(11).uniform(0, 2.0)  # attempt 3: min(8, 0.5 * 2**2)
    assert backoff.delay(3, random.Random(11)) == expected


def test_without_a_generator_the_shared_one_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    backoff = Backoff(max_attempts=5, base_s=0.5, cap_s=8)
    monkeypatch.setattr(JITTER, "uniform", lambda low, high: high)
    assert backoff.delay(2) == 1.0


def test_retry_after_wins_when_longer_but_never_past_the_cap() -> None:
    backoff = Backoff(max_attempts=5, base_s=0.01, cap_s=8)
    rng = random.Random(1)
    assert backoff.delay(1, rng, retry_after=3) == 3
    assert backoff.delay(1, rng, retry_after=120) == 8
    assert backoff.delay(1, rng, retry_after=0) <= 0.01  # the backoff, when it is longer


@pytest.mark.parametrize(
    ("max_attempts", "base_s", "cap_s"), [(0, 0.2, 10), (5, -0.1, 10), (5, 0.2, -1)]
)
def test_an_impossible_backoff_is_refused(max_attempts: int, base_s: float, cap_s: float) -> None:
    with pytest.raises(ValueError, match="invalid backoff"):
        Backoff(max_attempts, base_s, cap_s)


def test_retry_after_in_delta_seconds() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 0 ") == 0.0


def test_retry_after_as_an_http_date() -> None:
    assert parse_retry_after(formatdate(NOW + 30, usegmt=True), now=NOW) == pytest.approx(30)
    assert parse_retry_after("Tue, 14 Nov 2023 22:13:50 GMT", now=NOW) == pytest.approx(30)
    assert parse_retry_after(formatdate(NOW - 30, usegmt=True), now=NOW) == 0  # in the past


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5", "Tue, 99 Nov 2023 xx GMT"])
def test_an_absent_or_unreadable_retry_after_is_none(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW) is None


def test_the_retryable_answers_are_throttling_and_transient_server_faults() -> None:
    assert frozenset({429, 500, 502, 503, 504}) == RETRYABLE_STATUS
    assert not {400, 401, 403, 404, 409, 413, 501} & RETRYABLE_STATUS
