"""Concurrency from queue depth, halved by downstream backpressure, regrown after a cooldown."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice_local.handlers import load_handler

ROOT = Path(__file__).resolve().parents[3]
load_handler(ROOT / "functions/plan_batch", "app.lambda_handler", [ROOT / "layers/common"])
from scaler import Feedback, Pace, ScalerSettings, by_depth, next_pace  # noqa: E402

SETTINGS = ScalerSettings(min_concurrency=1, max_concurrency=8, batch_size=10, cooldown_s=30)
HEALTHY = Feedback(calls=100, retries=0, rows=100, duration_ms=5000)  # 50 ms a row
THROTTLED = Feedback(calls=100, retries=20, rows=80, duration_ms=4000)


def start(now: float = 1000.0) -> Pace:
    return Pace.from_dict(None, SETTINGS, now)


@pytest.mark.parametrize(
    ("depth", "expected"), [(0, 1), (1, 2), (10, 2), (11, 3), (35, 5), (70, 8), (10_000, 8)]
)
def test_concurrency_follows_queue_depth_between_min_and_max(depth: int, expected: int) -> None:
    assert by_depth(SETTINGS, depth) == expected
    assert next_pace(start(), Feedback(), depth, 1000.0, SETTINGS).concurrency == expected


def test_backpressure_halves_what_ran_and_says_why() -> None:
    running = next_pace(start(), HEALTHY, 500, 1000.0, SETTINGS)
    assert running.concurrency == 8
    slowed = next_pace(running, THROTTLED, 500, 1001.0, SETTINGS)
    assert (slowed.ceiling, slowed.concurrency) == (4, 4)
    assert slowed.reason == "backpressure: 20% of calls retried"
    again = next_pace(slowed, THROTTLED, 500, 1002.0, SETTINGS)
    assert again.concurrency == 2
    floor = next_pace(
        next_pace(again, THROTTLED, 500, 1003.0, SETTINGS), THROTTLED, 500, 1004.0, SETTINGS
    )
    assert floor.concurrency == SETTINGS.min_concurrency


def test_slower_rows_count_as_backpressure() -> None:
    warmed = next_pace(start(), HEALTHY, 500, 1000.0, SETTINGS)
    slow = Feedback(calls=100, retries=0, rows=100, duration_ms=15_000)  # 150 ms a row vs 50
    slowed = next_pace(warmed, slow, 500, 1001.0, SETTINGS)
    assert slowed.concurrency == 4
    assert slowed.reason == "backpressure: 150 ms per row vs 50 ms baseline"


def test_the_ceiling_regrows_by_one_per_cooldown_once_healthy() -> None:
    pace = next_pace(
        next_pace(start(), HEALTHY, 500, 1000.0, SETTINGS), THROTTLED, 500, 1000.0, SETTINGS
    )
    assert pace.concurrency == 4
    within = next_pace(pace, HEALTHY, 500, 1000.0 + 29, SETTINGS)
    assert within.concurrency == 4  # cooldown not over
    after = next_pace(within, HEALTHY, 500, 1000.0 + 30, SETTINGS)
    assert (after.concurrency, after.reason) == (5, "recovering")
    later = after
    for minute in range(1, 10):
        later = next_pace(later, HEALTHY, 500, 1030.0 + 30 * minute, SETTINGS)
    assert later.concurrency == SETTINGS.max_concurrency


def test_a_short_queue_needs_no_more_than_its_depth_even_when_healthy() -> None:
    assert next_pace(start(), HEALTHY, 3, 1000.0, SETTINGS).concurrency == 2


def test_feedback_is_read_from_the_maps_results() -> None:
    results = [
        {"rowsSent": 10, "rowsFailed": 0, "retries": 2, "durationMs": 600},
        {"rowsSent": 0, "rowsFailed": 0, "retries": 0, "durationMs": 0},  # dead-lettered item
        {"rowsSent": 5, "rowsFailed": 1, "retries": 0, "durationMs": 300},
        "not a result",
    ]
    feedback = Feedback.from_results(results)
    assert (feedback.calls, feedback.retries, feedback.rows) == (18, 2, 16)
    assert feedback.ms_per_row == 900 / 16


def test_pace_survives_the_round_trip_through_the_state_machine() -> None:
    pace = next_pace(start(), THROTTLED, 50, 1000.0, SETTINGS)
    assert Pace.from_dict(pace.to_dict(), SETTINGS, 2000.0) == pace


def test_time_per_object_is_learned_from_objects_that_ran() -> None:
    ran = Feedback.from_results(
        [
            {"rowsSent": 10, "rowsFailed": 0, "retries": 0, "durationMs": 2000},
            {"rowsSent": 0, "rowsFailed": 0, "retries": 0, "durationMs": 0},  # dead-lettered
        ]
    )
    assert (ran.objects, ran.seconds_per_object) == (1, 2.0)
    first = next_pace(start(), ran, 100, 1000.0, SETTINGS)
    assert first.seconds_per_object == 2.0
    quicker = Feedback(calls=10, rows=10, duration_ms=1000, objects=1)
    assert next_pace(first, quicker, 100, 1001.0, SETTINGS).seconds_per_object == pytest.approx(1.8)
    assert next_pace(first, Feedback(), 100, 1002.0, SETTINGS).seconds_per_object == 2.0


def test_a_rounds_feedback_sums_each_workers_totals_and_last_batch() -> None:
    workers = [
        {
            "stopped": "round over",
            "totals": {"calls": 5, "rows": 5, "duration_ms": 50, "objects": 1},
            "last": [{"rowsSent": 3, "retries": 1, "durationMs": 30}],
        },
        {"stopped": "queue empty", "totals": {}, "last": []},
        "not a worker output",
    ]
    assert Feedback.from_workers(workers) == Feedback(
        calls=9, retries=1, rows=8, duration_ms=80, objects=2
    )
