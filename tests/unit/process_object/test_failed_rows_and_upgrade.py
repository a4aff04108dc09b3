"""What the checkpoint remembers beyond the cursor: the failed rows (inline, then on spill items),
which a redrive sends and nothing else; and the rows the pre-upgrade Powertools Idempotency
records say were delivered, which are not sent again."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest

import checkpoint
from checkpoint import LegacyRecords
from object_source import idempotency_key, revision_digest
from sluice_common.events import ObjectRef

BUCKET = "sluice-demo-bucket"
LEGACY_TABLE = "IdempotencyTable"


def csv(rows: int) -> bytes:
    return b"id,name\n" + b"".join(b"%d,name %d\n" % (n, n) for n in range(1, rows + 1))


def digest_of(world: Any, key: str) -> str:
    return revision_digest(ObjectRef(BUCKET, key), world.etag(key))


# -- a redrive of an object whose rows failed --------------------------------------------------


def test_a_redrive_sends_only_the_failed_rows_reading_from_the_first_ones_offset(
    world: Any,
) -> None:
    world.put("in/some.csv", csv(10))
    ref = ObjectRef(BUCKET, "in/some.csv")
    world.api.answer = lambda row: 422 if row in (3, 7) else 200

    first = world.run(ref)
    assert (first.unfinished, first.rows_sent, first.rows_failed) == (False, 8, 2)
    assert [f["row"] for f in first.failed_rows] == [3, 7]

    world.api.answer = None  # the downstream was fixed; the message is redriven
    redrive = world.run(ref)
    assert world.api.all_rows()[10:] == [3, 7]
    assert (redrive.pass_number, redrive.unfinished) == (1, False)
    assert (redrive.rows_read, redrive.rows_sent, redrive.rows_failed) == (2, 2, 0)
    assert world.s3.gets()[-1]["Range"] == f"bytes={len(csv(2))}-"  # where row 3 starts
    keys = {r.row: r.key for r in world.api.requests[:10]}
    assert [r.key for r in world.api.requests[10:]] == [keys[3], keys[7]]  # the same keys

    gets = len(world.s3.gets())
    again = world.run(ref)  # a second redrive after they succeeded
    assert (again.rows_sent, again.rows_failed, again.unfinished) == (0, 0, False)
    assert len(world.api.requests) == 12 and len(world.s3.gets()) == gets  # not even read


def test_a_row_that_fails_again_is_sent_by_the_next_redrive_alone(world: Any) -> None:
    world.put("in/stubborn.csv", csv(6))
    ref = ObjectRef(BUCKET, "in/stubborn.csv")
    world.api.answer = lambda row: 422 if row in (2, 5) else 200
    world.run(ref)
    world.api.answer = lambda row: 422 if row == 5 else 200
    second = world.run(ref)
    assert (second.pass_number, second.rows_sent, second.rows_failed) == (1, 1, 1)
    world.api.answer = None
    third = world.run(ref)
    assert (third.pass_number, third.rows_sent, third.rows_failed) == (2, 1, 0)
    assert world.api.all_rows()[6:] == [2, 5, 5]


def test_a_redrive_pass_that_runs_out_of_time_carries_on_with_the_failed_rows_only(
    world: Any,
) -> None:
    world.put("in/long.csv", csv(30))
    ref = ObjectRef(BUCKET, "in/long.csv")
    world.api.answer = lambda row: 422 if row % 5 == 0 else 200
    world.run(ref)
    world.api.answer = None
    first = world.run(ref, requests=2)  # time for rows 5 and 10
    assert (first.pass_number, first.unfinished, first.next_row) == (1, True, 11)
    rest = world.run(ref)
    assert (rest.unfinished, rest.rows_sent) == (False, 4)
    assert world.api.all_rows()[30:] == [5, 10, 15, 20, 25, 30]


def test_skipping_between_failed_rows_costs_no_checkpoint_writes(world: Any) -> None:
    world.put("in/sparse.csv", csv(60))
    ref = ObjectRef(BUCKET, "in/sparse.csv")
    world.api.answer = lambda row: 422 if row in (10, 50) else 200
    world.run(ref, rows=60)
    world.api.answer = None
    writes = world.db.count("update_item")
    world.run(ref)  # CheckpointRows=1: one write per row sent, not per row skipped
    assert world.api.all_rows()[60:] == [10, 50]
    # take, the pass started, rows 10 and 190, the last write
    assert world.db.count("update_item") - writes == 5


def spilled_rows(world: Any, digest: str, pass_number: int = 0) -> list[list[int]]:
    pages = []
    for page in range(100):
        item = world.item(f"{digest}#failed#{pass_number}#{page}")
        if not item:
            return pages
        pages.append([int(r["M"]["row"]["N"]) for r in item["rows"]["L"]])
    raise AssertionError("too many pages")


@pytest.mark.parametrize(
    ("total", "rows", "inline", "page_rows"),
    [
        (300, 30, 100, 1000),  # as deployed: 250 failed rows, 100 inline, 150 on one page
        # Smaller lists (moto's writes slow down as items grow), the same arithmetic:
        (36, 1, 10, 8),  # one row spilled per save, page after page
        (120, 7, 10, 15),  # saves that straddle the inline end and page ends
    ],
)
def test_failed_rows_beyond_the_inline_ones_spill_and_a_redrive_sends_exactly_them(
    world: Any,
    monkeypatch: pytest.MonkeyPatch,
    total: int,
    rows: int,
    inline: int,
    page_rows: int,
) -> None:
    monkeypatch.setattr(checkpoint, "FAILED_INLINE", inline)
    monkeypatch.setattr(checkpoint, "SPILL_PAGE_ROWS", page_rows)
    world.put("in/bad.csv", csv(total))
    ref = ObjectRef(BUCKET, "in/bad.csv")
    failing = [n for n in range(1, total + 1) if n % 6]  # 5 in 6: 250 of 300
    world.api.answer = lambda row: 400 if row % 6 else 200

    first = world.run(ref, rows=rows, max_failed_rows_reported=20)
    assert (first.rows_sent, first.rows_failed, first.unfinished) == (
        total - len(failing),
        len(failing),
        False,
    )
    assert len(first.failed_rows) == min(20, inline) and first.failed_rows_truncated
    digest = digest_of(world, "in/bad.csv")
    item = world.item(digest)
    assert [int(r["M"]["row"]["N"]) for r in item["failed"]["L"]] == failing[:inline]
    pages = spilled_rows(world, digest)
    assert [n for page in pages for n in page] == failing[inline:]
    assert all(len(page) == page_rows for page in pages[:-1])

    world.api.answer = None
    redrive = world.run(ref, rows=rows)
    assert world.api.all_rows()[total:] == failing
    assert (redrive.rows_sent, redrive.rows_failed, redrive.unfinished) == (
        len(failing),
        0,
        False,
    )
    assert world.run(ref).rows_sent == 0 and len(world.api.requests) == total + len(failing)


class CrashOnCursor(Exception):
    pass


@pytest.mark.parametrize("failing_write", [4, 6])
def test_a_save_whose_item_write_fails_once_is_saved_again_the_same_way(
    world: Any, monkeypatch: pytest.MonkeyPatch, failing_write: int
) -> None:
    """Each checkpoint here adds 5 failed rows: the 4th fills the inline list (15 -> 20), the
    6th spills across a page end (spilled rows 5-9, pages of 8). Its item write fails once,
    after any spill write; the stop saves again, and each failed row ends where a redrive
    finds it, once."""
    monkeypatch.setattr(checkpoint, "FAILED_INLINE", 20)
    monkeypatch.setattr(checkpoint, "SPILL_PAGE_ROWS", 8)
    world.put("in/flaky.csv", csv(60))
    ref = ObjectRef(BUCKET, "in/flaky.csv")
    digest = digest_of(world, "in/flaky.csv")
    world.api.answer = lambda row: 400 if row % 6 else 200
    update = world.db.update_item
    cursor_writes: list[int] = []

    def failing_once(**params: Any) -> Any:
        if params["Key"]["object"]["S"] == digest and "passNumber" in params["UpdateExpression"]:
            cursor_writes.append(1)
            if len(cursor_writes) == failing_write:
                raise CrashOnCursor
        return update(**params)

    world.db.update_item = failing_once
    store = world.store()
    with pytest.raises(CrashOnCursor):
        world.run(ref, rows=6, store=store)
    world.db.update_item = update
    # The stop saved what it could (the same rows again, spilled the same way) and the next
    # invocation carries on.
    world.run(ref, rows=6, store=world.store(clock=lambda: time.time() + 61))
    failing = [n for n in range(1, 61) if n % 6]
    inline = [int(r["M"]["row"]["N"]) for r in world.item(digest)["failed"]["L"]]
    assert inline == failing[:20]
    assert [n for page in spilled_rows(world, digest) for n in page] == failing[20:]
    world.api.answer = None
    world.run(ref, rows=60)
    assert world.api.all_rows()[-50:] == failing


def test_a_spill_page_left_longer_by_a_lost_save_is_cut_back_not_appended_to(
    world: Any,
) -> None:
    store = world.store()
    point = store.take("d", revision="r", etag="e", size=1, until=time.time() + 30)
    failed = [checkpoint.FailedRow(n, n * 10, n, "HTTP 400") for n in range(1, 131)]
    point.failed_count = 110
    store.save(point, new_failed=failed[:110], release=False)  # 100 inline, 10 spilled
    # A save that wrote its spill rows (111-120) but never its item: the item still counts 110.
    store._spill(point, failed[110:120], 10)
    point.failed_count = 130
    store.save(point, new_failed=failed[110:130], release=True)  # the same rows, and more
    assert spilled_rows(world, "d") == [list(range(101, 131))]


# -- the upgrade from per-row Powertools Idempotency records ------------------------------------


@pytest.fixture
def legacy_table(world: Any) -> str:
    world.db._client.create_table(
        TableName=LEGACY_TABLE,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return LEGACY_TABLE


def deliver_before_upgrade(ref: ObjectRef, etag: str, rows: range) -> None:
    """Record rows the way the code before checkpoints did: Powertools Idempotency around each
    row's delivery, keyed on the row's Idempotency-Key."""
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    from sluice_local.emulator.context import LambdaContext

    config = IdempotencyConfig(
        event_key_jmespath="key",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=30 * 86400,
    )
    config.register_lambda_context(LambdaContext("process-object", timeout_seconds=60))

    @idempotent_function(
        data_keyword_argument="row",
        persistence_store=DynamoDBPersistenceLayer(
            table_name=LEGACY_TABLE, boto3_client=boto3.client("dynamodb")
        ),
        config=config,
        key_prefix="sluice-row",
    )
    def deliver_row(row: dict[str, str]) -> dict[str, Any]:
        return {"ok": True, "status": 200}

    for n in rows:
        deliver_row(row={"key": idempotency_key(ref, n, etag)})


def test_rows_recorded_before_the_upgrade_are_not_sent_again(world: Any, legacy_table: str) -> None:
    world.put("in/upgraded.csv", csv(60))
    ref = ObjectRef(BUCKET, "in/upgraded.csv")
    etag = world.etag("in/upgraded.csv")
    deliver_before_upgrade(ref, etag, range(1, 31))
    records = world.db._client.scan(TableName=legacy_table)["Items"]
    assert len(records) == 30 and {r["status"]["S"] for r in records} == {"COMPLETED"}
    assert {r["id"]["S"] for r in records} == {
        LegacyRecords.record_id(idempotency_key(ref, n, etag)) for n in range(1, 31)
    }

    legacy = LegacyRecords(world.db, legacy_table)
    summary = world.run(ref, legacy=legacy, rows=10)

    assert world.api.all_rows() == list(range(31, 61))
    assert (summary.rows_read, summary.rows_sent, summary.rows_skipped) == (60, 30, 30)
    # Looked up ahead, 25 rows at a time, until a batch finds none: rows 1-25, 26-50, 51-75.
    assert world.db.count("batch_get_item") == 3


def test_a_resumed_object_begun_before_the_upgrade_still_skips_its_recorded_rows(
    world: Any, legacy_table: str
) -> None:
    world.put("in/halfway.csv", csv(40))
    ref = ObjectRef(BUCKET, "in/halfway.csv")
    deliver_before_upgrade(ref, world.etag("in/halfway.csv"), range(1, 21))
    legacy = LegacyRecords(world.db, legacy_table)
    first = world.run(ref, requests=5, legacy=legacy, rows=10)  # 1-20 skipped, 21-25 sent
    assert (first.unfinished, first.rows_skipped, first.next_row) == (True, 20, 26)
    world.run(ref, legacy=LegacyRecords(world.db, legacy_table))  # another container
    assert world.api.all_rows() == list(range(21, 41))


def test_an_object_not_begun_before_the_upgrade_costs_one_lookup(
    world: Any, legacy_table: str
) -> None:
    world.put("in/new.csv", csv(60))
    ref = ObjectRef(BUCKET, "in/new.csv")
    deliver_before_upgrade(ref, "another-revision", range(1, 5))  # records of another object
    legacy = LegacyRecords(world.db, legacy_table)

    first = world.run(ref, requests=20, legacy=legacy, rows=10)
    rest = world.run(ref, legacy=LegacyRecords(world.db, legacy_table), rows=10)  # new container

    assert (first.unfinished, rest.unfinished) == (True, False)
    assert world.api.all_rows() == list(range(1, 61))
    assert world.db.count("batch_get_item") == 1  # the checkpoint remembers it was checked
    assert world.item(digest_of(world, "in/new.csv"))["legacyChecked"] == {"BOOL": True}


def test_expired_records_do_not_count_as_delivered(world: Any, legacy_table: str) -> None:
    world.put("in/old.csv", csv(3))
    ref = ObjectRef(BUCKET, "in/old.csv")
    deliver_before_upgrade(ref, world.etag("in/old.csv"), range(1, 4))
    later = time.time() + 31 * 86400  # past IdempotencyDays
    world.run(ref, legacy=LegacyRecords(world.db, legacy_table, clock=lambda: later))
    assert world.api.all_rows() == [1, 2, 3]


def test_a_redrive_pass_does_not_consult_the_legacy_table(world: Any, legacy_table: str) -> None:
    world.put("in/mixed.csv", csv(4))
    ref = ObjectRef(BUCKET, "in/mixed.csv")
    world.api.answer = lambda row: 422 if row == 4 else 200
    world.run(ref, legacy=LegacyRecords(world.db, legacy_table))
    lookups = world.db.count("batch_get_item")
    world.api.answer = None
    world.run(ref, legacy=LegacyRecords(world.db, legacy_table))
    assert world.api.all_rows()[4:] == [4]
    assert world.db.count("batch_get_item") == lookups
