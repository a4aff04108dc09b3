"""Issue 16: an object too large for one invocation carries on from fresh messages (ContinueLater),
across drain executions, without holding up the objects that arrive behind it.

The template and ASL as deployed, through the strict local runtime (real Lambda timeouts, IAM,
the Express limit). One object needs several times more invocations than MaxReceiveCount
allows receives; small objects arrive while it is being processed.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from sluice_local.emulator.runtime import LocalPipeline
from sluice_local.jobs.demo import (
    InvocationStarts,
    account,
    deployed,
    express_limit,
    process_results,
    sample_objects,
    upload,
    wait_for,
)
from testkit.drain import stop_drains_when

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e

MAX_RECEIVE_COUNT = 2
OVERRIDES = {
    # An invocation sends rows for about 3 s: it starts a request only while one whole request
    # (DownstreamTimeoutSeconds) still fits before its deadline, less a second for the checkpoint.
    "FunctionTimeout": "5",
    "DownstreamTimeoutSeconds": "1",
    "MaxReceiveCount": str(MAX_RECEIVE_COUNT),
    # One worker: a small object can only be processed between two turns of the large one.
    "MaxConcurrency": "1",
    "ScaleCooldownSeconds": "2",  # rounds of 2 s (real seconds: the lease's clock is not scaled)
    "StaggerSeconds": "0",
    "MaxStaggerSeconds": "0",
}
LATENCY_S = 0.2  # real seconds per row: about 14 rows an invocation
BIG_ROWS = 100  # about 8 invocations
# AWS stops an Express execution after 300 s; the drain hands over to a fresh one before its
# last round could overrun that. Here the limit is 70 s, for the emulator and the drain lease
# alike (a round's tail is 55 s with these settings), so the drain's own HoldLease says "hand
# over" after about 13 s of an execution (at the end of the round then under way), within the
# large object's processing (about 25 s). The execution it hands over to has AWS's limit (see
# express_limit: the emulator cannot hand over twice).
EXPRESS_LIMIT_S = 70.0


def _key(event: Any) -> str | None:
    details = event.get("s3_details") if isinstance(event, dict) else None
    return details.get("key") if isinstance(details, dict) else None


def _finished(pipeline: LocalPipeline) -> set[str]:
    return {r["key"] for _, r in process_results(pipeline) if not r.get("unfinished")}


def test_a_large_object_continues_across_drains_and_small_ones_do_not_wait_behind_it() -> None:
    big = sample_objects(1, BIG_ROWS, failing=0, prefix="incoming/large/")
    small = sample_objects(3, 3, failing=0, prefix="incoming/small/")
    big_key = big[0].key
    starts = InvocationStarts()
    started = time.monotonic()
    with (
        deployed(ROOT / "template.yaml", OVERRIDES, latency_s=LATENCY_S) as (pipeline, downstream),
        express_limit(pipeline, EXPRESS_LIMIT_S),
    ):
        pipeline.dispatcher.crash_hook = starts
        upload(pipeline, big)
        pipeline.start_schedules(fire_now=True)
        # The large object's first invocation ran out of time; once its next one is under way,
        # the small objects arrive (behind the large object's message, in front of its next).
        wait_for(
            lambda: any(r.get("unfinished") for _, r in process_results(pipeline)),
            timeout=30,
            what="the large object's first unfinished invocation",
        )
        wait_for(
            lambda: len(starts.of("ProcessObjectFunction")) >= 2,
            timeout=30,
            what="the large object's second invocation",
        )
        uploaded_at = time.monotonic()
        upload(pipeline, small)
        everything = {o.key for o in [*big, *small]}
        stop_drains_when(
            pipeline,
            lambda: (
                everything <= _finished(pipeline)
                or pipeline.queue_counts("ObjectDeadLetterQueueUrl")[0] > 0
            ),
            timeout=90,
            what="every object to finish (or one to be dead-lettered)",
        )
        report = account(pipeline, downstream, [*big, *small], time.monotonic() - started)
        results = process_results(pipeline)
        executions = pipeline.executions("DrainStateMachine")
        states = pipeline.history_counts("DrainStateMachine")
        accepted = downstream.accepted()
    print(report.table())

    # Every row of every object delivered exactly once; nothing dead-lettered.
    assert report.unaccounted == [] and report.dead_lettered == {}
    assert report.rows_received == report.rows_expected == BIG_ROWS + 3 * 3
    assert report.duplicate_rows == 0
    assert Counter((r.body["key"], r.body["row"]) for r in accepted) == Counter(
        (o.key, row) for o in [*big, *small] for row in range(1, o.rows + 1)
    )
    assert len({r.headers["Idempotency-Key"] for r in accepted}) == len(accepted)

    # The large object took more continuations than MaxReceiveCount allows receives: each came
    # from a fresh message (a new message id), so no receive count ever reached the limit.
    mine = [(event, result) for event, result in results if result["key"] == big_key]
    unfinished = [result for _, result in mine if result.get("unfinished")]
    print(f"large object: {len(mine)} invocations, {len(unfinished)} unfinished")
    assert len(unfinished) > MAX_RECEIVE_COUNT
    assert len(mine) >= 5
    assert all(r.get("unfinished") for _, r in mine[:-1]) and not mine[-1][1].get("unfinished")
    message_ids = [event["correlation"]["message_id"] for event, _ in mine]
    assert len(set(message_ids)) == len(mine), message_ids
    assert states["state:ContinueLater"] == len(unfinished)
    # Each invocation resumed at the row the one before stopped at (its checkpoint).
    next_row = 1
    for _, result in mine:
        assert result["next_row"] == next_row + result["rows_sent"], result
        next_row = result["next_row"]
    assert next_row == BIG_ROWS + 1

    # Across drain executions: the first handed over (its own HoldLease said so before the
    # Express limit) and the next carried the object on. No execution timed out or failed.
    by_execution = [event["correlation"]["execution"] for event, _ in mine]
    print(f"large object's executions, in order: {by_execution}")
    assert len(set(by_execution)) >= 2
    assert states["state:HandOver"] >= 1
    assert {e["status"] for e in executions} == {"SUCCEEDED"}

    # No small object waited behind the large one for more than one round. A round begins with
    # PlanRound (PlanBatch, action "round"), one round at a time (one drain holds the lease), so
    # the rounds begun between a small object's arrival and its first invocation are those it
    # waited past the round in progress: 0 if that round took it, 1 if the next did. The bound
    # allows one more, for a round that ends between two small objects (a worker here takes one
    # object a batch); runs show 0 or 1. The large object's turns in that time are counted too:
    # its continuation goes to the back of the queue, behind the small ones, so it takes none
    # in a run (SQS orders a standard queue best-effort: at most one is allowed). A message put
    # back where it was (ChangeMessageVisibility, as before ContinueLater) would be taken again
    # before them, turn after turn, until the object was done or dead-lettered.
    waits = []
    for obj in small:
        first = min(starts.of("ProcessObjectFunction", lambda e, k=obj.key: _key(e) == k))
        rounds = [
            t
            for t in starts.of("PlanBatchFunction", lambda e: e.get("action") == "round")
            if uploaded_at < t < first
        ]
        big_turns = [
            t
            for t in starts.of("ProcessObjectFunction", lambda e: _key(e) == big_key)
            if uploaded_at < t < first
        ]
        waits.append((obj.key, len(rounds), len(big_turns), round(first - uploaded_at, 2)))
    print(f"small objects (key, rounds begun before it started, large turns, seconds): {waits}")
    assert all(rounds <= 2 for _, rounds, _, _ in waits), waits
    assert all(turns <= 1 for _, _, turns, _ in waits), waits

    # And every small object was done before the large one.
    order = [result["key"] for _, result in results if not result.get("unfinished")]
    assert order[-1] == big_key and set(order[:-1]) == {o.key for o in small}, order
