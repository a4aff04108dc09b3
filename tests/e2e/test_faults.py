"""Fault injection on the whole pipeline (reduced size; benchmarks/fault_injection.py runs the
full one): 30% of downstream calls answer 429/500/503 and some time out, ProcessObject dies
mid-object (one object every time), poison messages arrive, objects are deleted before they are
processed. Afterwards every object is processed or dead-lettered with a reason, every row of an
existing object was delivered exactly once (or, when ProcessObject was stopped at its Timeout
while the row was in flight, once more with its Idempotency-Key) or is listed as failed or sits
in a dead-lettered object (a redrive replays it; delivered rows are skipped), and the bound
held."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice_local.jobs.chaos import POISON, run_chaos

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def test_under_faults_nothing_is_lost_and_a_row_comes_twice_only_with_its_key() -> None:
    report = run_chaos(ROOT, objects=24, rows=6, deleted=2, timeout=300)
    print(report.table())
    assert report.objects_unaccounted == []
    assert report.rows_unaccounted == []
    # The runtime stops ProcessObject at its Timeout, as Lambda does: a row whose request was
    # in flight then is sent again by the retry with the same Idempotency-Key (README, "Nothing
    # lost, nothing delivered twice": the window left to the downstream), one row at most per
    # timed-out invocation. Any other second delivery is a bug.
    assert report.rows_delivered_twice == report.rows_twice_same_key <= report.timeouts
    assert report.peak_in_flight <= report.max_concurrency
    # Every fault was injected and ended where it should, with a reason.
    assert report.crashes >= 2 and report.downstream_failures > 0
    assert report.dead_lettered["ObjectNotFound"] == report.deleted_before_processing == 2
    assert report.dead_lettered["MalformedEvent"] + report.dead_lettered["NotCsv"] >= len(POISON)
    assert report.dead_lettered["EmptyObject"] == 1
    # The object whose function dies every time ends in the dead-letter queue, not in a loop.
    assert (
        report.dead_lettered["MaxReceiveCountExceeded"] + report.dead_lettered["Runtime.ExitError"]
        >= 1
    )
    total = (
        report.rows_delivered_once
        + report.rows_delivered_twice
        + report.rows_listed_failed
        + report.rows_in_dead_objects
    )
    assert total == report.rows_total
