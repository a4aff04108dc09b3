"""Time-budgeted, resumable processing (issue 16): an object that does not fit one invocation is
carried on by the next from its checkpoint, each row delivered once, each byte read once.

Moto S3 and DynamoDB (the checkpoint table), an in-process downstream and a fake clock (the
``world`` fixture): a budget of ``requests=n`` has time for n whole requests, so where an
invocation stops is exact.
"""

from __future__ import annotations

import gzip
import time
from collections import Counter
from typing import Any

import pytest

from checkpoint import CheckpointStore
from csv_rows import CHUNK_BYTES
from object_budget import Budget
from object_source import idempotency_key, revision_digest
from sluice_common.errors import NoProgress, ObjectBusy
from sluice_common.events import ObjectRef

BUCKET = "sluice-demo-bucket"


def csv(rows: int, *, columns: str = "id,name") -> bytes:
    return (columns + "\n").encode() + b"".join(
        b"%d,name %d\n" % (n, n) for n in range(1, rows + 1)
    )


def padded(rows: int, width: int = 1024) -> bytes:
    """Every line (the header too) exactly ``width`` bytes: 64 lines to a read chunk."""
    header = "id,pad".ljust(width - 1).encode() + b"\n"
    lines = [b"%d," % n for n in range(1, rows + 1)]
    return header + b"".join(line.ljust(width - 1, b"x") + b"\n" for line in lines)


def digest_of(world: Any, key: str) -> str:
    return revision_digest(ObjectRef(BUCKET, key), world.etag(key))


# -- a budget that ends mid-object -----------------------------------------------------------


def test_a_budget_that_ends_mid_object_resumes_by_range_and_reads_each_byte_once(
    world: Any,
) -> None:
    # 3 read chunks: the header and rows 1-63 fill the first, rows 64-127 the second. Each
    # invocation has time for exactly the rows of one chunk, so it stops where its reads end.
    lines_per_chunk = CHUNK_BYTES // 1024
    body = padded(3 * lines_per_chunk - 1)
    assert len(body) == 3 * CHUNK_BYTES
    world.put("in/big.csv", body)
    ref = ObjectRef(BUCKET, "in/big.csv")

    first = world.run(ref, requests=lines_per_chunk - 1, rows=16)
    second = world.run(ref, requests=lines_per_chunk, rows=16)
    third = world.run(ref, rows=16)

    assert [s.unfinished for s in (first, second, third)] == [True, True, False]
    assert [s.next_row for s in (first, second, third)] == [64, 128, 192]
    assert [s.rows_sent for s in (first, second, third)] == [63, 64, 64]
    assert [s.rows_read for s in (first, second, third)] == [63, 64, 64]  # they add up
    assert world.api.all_rows() == list(range(1, 192))  # every row once, in order
    keys = [r.key for r in world.api.requests]
    assert len(set(keys)) == len(keys)
    # The resumes are ranged GETs of the same revision from the saved offset, and nothing is
    # read twice: S3 bytes read == the object's size.
    gets = world.s3.gets()
    assert [g.get("Range") for g in gets] == [
        None,
        f"bytes={CHUNK_BYTES}-",
        f"bytes={2 * CHUNK_BYTES}-",
    ]
    assert {g["IfMatch"] for g in gets} == {'"' + world.etag("in/big.csv") + '"'}
    assert world.s3.bytes_read == len(body)


def test_a_stop_inside_a_read_chunk_rereads_only_the_unused_read_ahead(world: Any) -> None:
    body = csv(40)
    world.put("in/small.csv", body)
    ref = ObjectRef(BUCKET, "in/small.csv")
    summaries = [world.run(ref, requests=n, rows=10) for n in (7, 20, 100)]

    assert [s.unfinished for s in summaries] == [True, True, False]
    assert world.api.all_rows() == list(range(1, 41))
    after = [len(csv(7)), len(csv(27))]  # where rows 8 and 28 start
    gets = world.s3.gets()
    assert [g.get("Range") for g in gets] == [None] + [f"bytes={n}-" for n in after]
    # A small object is one read chunk: each GET reads to its end. Nothing before a resume
    # offset is read again; what is re-read is what the reader had buffered past its stop.
    assert world.s3.bytes_read == len(body) + sum(len(body) - n for n in after)


def test_a_gzip_object_is_read_again_from_its_start_and_no_row_is_sent_twice(
    world: Any,
) -> None:
    body = gzip.compress(csv(40))
    world.put("in/rows.csv.gz", body)
    ref = ObjectRef(BUCKET, "in/rows.csv.gz")
    summaries = [world.run(ref, requests=n, rows=10) for n in (7, 20, 100)]

    assert [s.unfinished for s in summaries] == [True, True, False]
    assert [s.rows_sent for s in summaries] == [7, 20, 13]
    assert world.api.all_rows() == list(range(1, 41))  # the skipped rows are not sent again
    # A gzip stream cannot be ranged: every invocation reads it from byte 0 (this one is
    # smaller than a read chunk, so each reads all of it) and skips what was done, inflated.
    assert [g.get("Range") for g in world.s3.gets()] == [None, None, None]
    assert world.s3.bytes_read == 3 * len(body)
    item = world.item(digest_of(world, "in/rows.csv.gz"))
    assert item["compressed"] == {"BOOL": True} and item["done"] == {"BOOL": True}


@pytest.mark.parametrize("compress", [False, True])
def test_a_stop_before_the_first_row_is_done_resumes_after_the_header(
    world: Any, compress: bool
) -> None:
    body = csv(3)
    world.put("in/first.csv", gzip.compress(body) if compress else body)
    ref = ObjectRef(BUCKET, "in/first.csv")
    world.api.script.append(503)  # row 1's first attempt; its retry does not fit
    first = world.run(ref, requests=1)
    assert (first.unfinished, first.next_row) == (True, 1)
    world.run(ref)
    assert [(r.row, r.body["data"]) for r in world.api.requests] == [
        (1, {"id": "1", "name": "name 1"}),
        (1, {"id": "1", "name": "name 1"}),  # never the header read as a row
        (2, {"id": "2", "name": "name 2"}),
        (3, {"id": "3", "name": "name 3"}),
    ]
    if not compress:
        assert world.s3.gets()[-1]["Range"] == "bytes=8-"  # past "id,name\n"


# -- the revision ----------------------------------------------------------------------------


def test_an_overwrite_between_invocations_is_processed_from_row_1_under_new_keys(
    world: Any, logs: Any
) -> None:
    old = world.put("in/daily.csv", csv(5))["ETag"].strip('"')
    ref = ObjectRef(BUCKET, "in/daily.csv", etag=old)  # the event names the old revision
    first = world.run(ref, requests=2)
    assert first.unfinished and world.api.all_rows() == [1, 2]

    new_body = csv(3, columns="id,amount")
    new = world.put("in/daily.csv", new_body)["ETag"].strip('"')
    second = world.run(ref)  # the continuation of the same message

    assert not second.unfinished and second.rows_sent == 3
    assert second.revision == new
    assert world.api.all_rows() == [1, 2, 1, 2, 3]
    new_rows = world.api.requests[2:]
    assert new_rows[0].body["data"] == {"id": "1", "amount": "name 1"}
    old_prefix = revision_digest(ref, old)
    assert {r.key.rsplit("-", 1)[0] for r in world.api.requests[:2]} == {old_prefix}
    assert {r.key.rsplit("-", 1)[0] for r in new_rows} == {revision_digest(ref, new)}
    assert [r.key for r in new_rows] == [idempotency_key(ref, n, new) for n in (1, 2, 3)]
    changed = [line for line in logs() if "changed since its event" in line.get("message", "")]
    assert changed and changed[0]["etag"] == new and changed[0]["event_etag"] == old
    # Only the new revision's row-1 GET: no range from the old revision's checkpoint.
    assert world.s3.gets()[-1].get("Range") is None


def test_an_overwrite_between_head_and_get_is_processed_as_the_new_revision(
    world: Any, logs: Any
) -> None:
    world.put("in/racy.csv", csv(2))
    ref = ObjectRef(BUCKET, "in/racy.csv")
    old = world.etag("in/racy.csv")
    head = world.s3.head_object
    overwritten: list[str] = []

    def head_then_overwrite(**params: Any) -> Any:
        answer = head(**params)
        if not overwritten:
            overwritten.append(world.put("in/racy.csv", csv(3))["ETag"].strip('"'))
        return answer

    world.s3.head_object = head_then_overwrite
    summary = world.run(ref)

    assert (summary.revision, summary.rows_sent) == (overwritten[0], 3)
    assert world.api.all_rows() == [1, 2, 3]
    assert any("overwritten while being opened" in line.get("message", "") for line in logs())
    # The first revision's lease was given back: nothing holds it.
    assert "owner" not in world.item(revision_digest(ref, old))


def test_a_versioned_continuation_pins_its_version_after_an_overwrite(world: Any) -> None:
    world.raw_s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    v1 = world.put("in/v.csv", csv(5))["VersionId"]
    ref = ObjectRef(BUCKET, "in/v.csv", version_id=v1)
    assert world.run(ref, requests=2).unfinished

    world.put("in/v.csv", csv(9, columns="id,other"))
    summary = world.run(ref)

    assert (summary.unfinished, summary.rows_sent, summary.revision) == (False, 3, v1)
    assert world.api.all_rows() == [1, 2, 3, 4, 5]
    assert {r.body["data"]["name"] for r in world.api.requests} >= {"name 5"}  # v1's rows
    assert len({r.key.rsplit("-", 1)[0] for r in world.api.requests}) == 1
    resumed = world.s3.gets()[-1]
    assert resumed["VersionId"] == v1 and resumed["Range"] == f"bytes={len(csv(2))}-"


# -- the lease -------------------------------------------------------------------------------


def test_a_second_invocation_is_busy_while_the_first_holds_the_lease(world: Any) -> None:
    world.put("in/busy.csv", csv(4))
    ref = ObjectRef(BUCKET, "in/busy.csv")
    raised: list[BaseException] = []

    def race(sent: Any) -> None:
        if sent.row == 2:  # the first invocation is mid-object: a second one starts
            with pytest.raises(ObjectBusy) as busy:
                world.run(ref)
            raised.append(busy.value)

    world.api.after = race
    summary = world.run(ref)

    assert len(raised) == 1 and "another invocation is processing" in str(raised[0])
    assert "lease ends in" in str(raised[0])
    assert (summary.unfinished, summary.rows_sent) == (False, 4)
    assert world.api.all_rows() == [1, 2, 3, 4]  # the busy one sent nothing
    world.api.after = None
    again = world.run(ref)  # the lease was given back: a repeat finds the object done
    assert (again.unfinished, again.rows_sent) == (False, 0)
    assert world.api.all_rows() == [1, 2, 3, 4]


def test_a_lease_whose_holders_deadline_has_passed_is_taken_over(world: Any) -> None:
    world.put("in/stuck.csv", csv(3))
    ref = ObjectRef(BUCKET, "in/stuck.csv")
    digest = digest_of(world, "in/stuck.csv")
    etag = world.etag("in/stuck.csv")
    # A holder that took the lease until its deadline (60 s on) and was stopped by Lambda:
    # it never gives the lease back.
    holder = world.store()
    holder.take(digest, revision=etag, etag=etag, size=len(csv(3)), until=time.time() + 60)

    with pytest.raises(ObjectBusy, match=r"lease ends in (59|60) s"):
        world.run(ref)
    assert world.api.requests == []

    # Its retry, after the deadline: a new invocation (a new owner) takes the lease over.
    later = world.store(clock=lambda: time.time() + 61)
    summary = world.run(ref, store=later)
    assert (summary.unfinished, summary.rows_sent) == (False, 3)
    assert "owner" not in world.item(digest)


def test_the_lease_is_given_back_when_an_invocation_finds_the_revision_done(
    world: Any,
) -> None:
    world.put("in/done.csv", csv(2))
    ref = ObjectRef(BUCKET, "in/done.csv")
    world.run(ref)
    assert world.run(ref).rows_sent == 0
    assert "owner" not in world.item(digest_of(world, "in/done.csv"))
    world.run(ref)  # and another at once is not busy


def test_take_tells_a_new_revision_from_one_with_saved_progress(world: Any) -> None:
    store = world.store()
    point = store.take("d1", revision="r", etag="e", size=10, until=time.time() + 30)
    assert point.new and (point.row, point.offset, point.header) == (0, 0, None)
    point.row, point.offset, point.header = 3, 40, ("id",)
    store.save(point, new_failed=[], release=True)
    again = world.store().take("d1", revision="r", etag="e", size=10, until=time.time() + 30)
    assert not again.new and (again.row, again.offset, again.header) == (3, 40, ("id",))
    assert again.resumed


# -- a crash between a send and its checkpoint -----------------------------------------------


class Crash(BaseException):
    """Lambda stopping the process: no handler runs, nothing more is written."""


class CrashingStore(CheckpointStore):
    """Saves until the first save at or past ``row``; from then on every write fails."""

    def __init__(self, *args: Any, row: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.crash_row = row
        self.crashed = False

    def save(self, checkpoint: Any, **kwargs: Any) -> None:
        if self.crashed or checkpoint.row >= self.crash_row:
            self.crashed = True
            raise Crash
        super().save(checkpoint, **kwargs)


@pytest.mark.parametrize(("rows", "crash_at", "resent"), [(1, 4, [4]), (5, 10, [6, 7, 8, 9, 10])])
def test_a_crash_after_a_send_resends_only_the_rows_since_the_checkpoint(
    world: Any, rows: int, crash_at: int, resent: list[int]
) -> None:
    world.put("in/crash.csv", csv(12))
    ref = ObjectRef(BUCKET, "in/crash.csv")
    crashing = CrashingStore(world.db, world.table, ttl_days=30, owner="crashes", row=crash_at)
    with pytest.raises(Crash):
        world.run(ref, rows=rows, store=crashing)
    assert world.api.all_rows() == list(range(1, crash_at + 1))  # accepted, not checkpointed

    retry = world.store(clock=lambda: time.time() + 61)  # after the crashed one's deadline
    summary = world.run(ref, rows=rows, store=retry)

    assert not summary.unfinished
    sent = world.api.all_rows()
    assert sent[crash_at:] == resent + list(range(crash_at + 1, 13))
    twice = sorted(row for row, n in Counter(sent).items() if n > 1)
    assert twice == resent and len(twice) <= rows
    for row in twice:  # sent again under the same Idempotency-Key: the downstream drops it
        assert len({r.key for r in world.api.requests if r.row == row}) == 1


# -- checkpoint writes -----------------------------------------------------------------------


@pytest.mark.parametrize(("rows", "saves"), [(1, 50), (10, 5), (20, 2), (1000, 0)])
def test_checkpoint_rows_sets_how_many_writes_the_rows_cost(
    world: Any, rows: int, saves: int
) -> None:
    world.put("in/fifty.csv", csv(50))
    summary = world.run(ObjectRef(BUCKET, "in/fifty.csv"), rows=rows)
    assert (summary.unfinished, summary.rows_sent) == (False, 50)
    # The lease taken, one write per CheckpointRows rows, the last one giving the lease back.
    assert world.db.count("update_item") == 1 + saves + 1
    assert {name for name, _ in world.db.calls} == {"update_item"}


def test_a_stop_writes_the_checkpoint_whatever_checkpoint_rows_says(world: Any) -> None:
    world.put("in/stop.csv", csv(20))
    ref = ObjectRef(BUCKET, "in/stop.csv")
    assert world.run(ref, requests=7, rows=1000).next_row == 8
    summary = world.run(ref, rows=1000)
    assert world.api.all_rows() == list(range(1, 21)) and not summary.unfinished
    assert world.db.count("update_item") == 2 + 2


# -- a row's retries carry over ----------------------------------------------------------------


def test_a_rows_attempts_and_retry_time_carry_over_to_the_next_invocation(world: Any) -> None:
    world.put("in/retry.csv", csv(2))
    ref = ObjectRef(BUCKET, "in/retry.csv")
    digest = digest_of(world, "in/retry.csv")
    world.api.script.extend([(503, 5.0), 200])  # Retry-After: 5

    first = world.run(ref, requests=1)  # time for one attempt, not for its retry
    assert (first.unfinished, first.next_row, first.requests) == (True, 1, 1)
    assert first.rows_read == 0  # the row is read again, and counted, when it is done
    item = world.item(digest)
    assert item["attempts"] == {"N": "1"}
    retry_at = float(item["retryAt"]["N"])
    assert time.time() + 4 < retry_at <= time.time() + 5

    second = world.run(ref, requests=3)  # 5 s to wait + a request do not fit 3 s
    assert (second.unfinished, second.requests) == (True, 0)  # retry_at honoured
    assert len(world.api.requests) == 1
    assert world.item(digest)["attempts"] == {"N": "1"}

    third = world.run(ref, requests=10)
    assert (third.unfinished, third.rows_sent, third.retries) == (False, 2, 1)
    assert (third.rows_read, third.requests) == (2, 2)
    assert world.api.all_rows() == [1, 1, 2]
    assert 4 < world.sleeps[0] <= 5  # only what was left of the 5 s wait
    assert world.api.requests[0].key == world.api.requests[1].key


def test_attempts_made_in_earlier_invocations_count_toward_the_most_attempts(
    world: Any,
) -> None:
    from downstream import RetryPolicy

    world.put("in/tired.csv", csv(2))
    ref = ObjectRef(BUCKET, "in/tired.csv")
    world.api.script.extend([(503, 5.0), 503])
    policy = RetryPolicy(max_attempts=2, base_s=0.01, cap_s=10.0)

    assert world.run(ref, requests=1, policy=policy).unfinished
    summary = world.run(ref, policy=policy)

    assert (summary.unfinished, summary.rows_sent, summary.rows_failed) == (False, 1, 1)
    assert summary.failed_rows == [{"row": 1, "error": "HTTP 503 after 2 attempts"}]
    assert world.api.all_rows() == [1, 1, 2]  # 2 attempts in all for row 1, not 2 + 2


# -- no progress -----------------------------------------------------------------------------


def test_invocations_that_never_fit_one_request_end_in_no_progress_with_a_reason(
    world: Any,
) -> None:
    world.put("in/slow.csv", csv(3))
    ref = ObjectRef(BUCKET, "in/slow.csv")

    def short() -> Budget:  # 30 s left, a request may take 60
        return Budget(stop_at=time.time() + 30, request_s=60, lease_until=time.time() + 31)

    def run(budget: Budget | None = None) -> Any:
        return world.run(ref, budget=budget or short(), no_progress_limit=3)

    assert [run().unfinished for _ in range(2)] == [True, True]
    assert run(world.budget(requests=1)).rows_sent == 1  # progress: the count starts again
    assert [run().unfinished for _ in range(2)] == [True, True]
    with pytest.raises(NoProgress) as raised:
        run()
    reason = str(raised.value)
    assert "3 invocations in a row ended without progress at row 2" in reason
    for named in ("NoProgressLimit 3", "DownstreamTimeoutSeconds 60 s", "FunctionTimeout"):
        assert named in reason
    assert world.api.all_rows() == [1]
    assert world.item(digest_of(world, "in/slow.csv"))["stalls"] == {"N": "3"}
