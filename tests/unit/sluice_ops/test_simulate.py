"""sluice simulate against moto: what lands in the bucket and on PriorityQueue, under which keys,
and how a run is cleaned up."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

import pytest
from moto import mock_aws
from test_sluice_cli import FakeStack, deploy_fake_stack, run_sluice

from sluice_ops.context import SluiceCliError
from sluice_ops.simulate import (
    ODD_NAMES,
    PRIORITY_SUFFIX,
    ROW_WIDTH,
    SimulationPlan,
    cleanup,
    run_simulation,
)


@pytest.fixture
def stack() -> Iterator[FakeStack]:
    with mock_aws():
        yield deploy_fake_stack(prefix="incoming/", suffix=".csv")


def _body(stack: FakeStack, key: str) -> bytes:
    s3 = stack.client("s3")
    return bytes(s3.get_object(Bucket=stack.outputs["BucketName"], Key=key)["Body"].read())


def _keys(stack: FakeStack, prefix: str = "") -> list[str]:
    pages = stack.client("s3").get_paginator("list_objects_v2")
    return [
        o["Key"]
        for page in pages.paginate(Bucket=stack.outputs["BucketName"], Prefix=prefix)
        for o in page.get("Contents", [])
    ]


def test_a_run_uploads_every_object_under_its_run_prefix_with_the_stacks_prefix_and_suffix(
    stack: FakeStack,
) -> None:
    plan = SimulationPlan(objects=12, rows=7, workers=4, run_id="run-a")
    run = run_simulation(stack.context(), plan, progress=False)

    assert run.run_id == "run-a"
    assert run.prefix == "incoming/sluice-simulate/run-a/"
    assert sorted(u.key for u in run.uploads) == sorted(_keys(stack))
    assert len(run.uploads) == 12
    for upload in run.uploads:
        assert upload.key.startswith(run.prefix) and upload.key.endswith(".csv")
        rows = list(csv.DictReader(io.StringIO(_body(stack, upload.key).decode())))
        assert len(rows) == upload.rows == 7
        assert upload.uploaded_at >= run.started_at
        assert not upload.broken and not upload.priority


def test_odd_keys_are_stored_exactly_as_named(stack: FakeStack) -> None:
    plan = SimulationPlan(objects=14, rows=2, odd_key_share=1.0, run_id="odd")
    run = run_simulation(stack.context(), plan, progress=False)

    stored = set(_keys(stack))
    assert {u.key for u in run.uploads} == stored
    for name in ODD_NAMES:  # every odd name is used (14 objects, 7 names)
        assert any(name in key for key in stored), name
    assert any(" " in k for k in stored) and any("+" in k for k in stored)
    assert any(":" in k for k in stored) and any("%" in k for k in stored)
    assert any(not k.isascii() for k in stored)


def test_broken_objects_are_empty_binary_or_carry_a_bad_row_and_say_which_reason_they_expect(
    stack: FakeStack,
) -> None:
    plan = SimulationPlan(objects=6, rows=5, broken_share=0.5, run_id="broken")
    run = run_simulation(stack.context(), plan, progress=False)

    broken = {u.expected_error: u for u in run.uploads if u.broken}
    assert set(broken) == {"EmptyObject", "NotCsv", "RowsFailed"}
    assert _body(stack, broken["EmptyObject"].key) == b""
    assert b"\x00" in _body(stack, broken["NotCsv"].key)
    table = list(csv.reader(io.StringIO(_body(stack, broken["RowsFailed"].key).decode())))
    widths = [len(row) for row in table]
    assert widths.count(len(table[0])) == len(table) - 1  # exactly one row of the wrong width
    assert broken["RowsFailed"].rows == len(table) - 2  # the rows the pipeline still sends
    assert all(f"-broken-{u.expected_error}" in u.key for u in broken.values())


def test_priority_objects_go_through_priority_queue_and_are_outside_the_event_rules_suffix(
    stack: FakeStack,
) -> None:
    plan = SimulationPlan(objects=10, rows=3, priority_share=0.3, run_id="urgent")
    run = run_simulation(stack.context(), plan, progress=False)

    priority = [u for u in run.uploads if u.priority]
    assert len(priority) == 3
    for upload in priority:
        # Inside ObjectKeyPrefix (ProcessObject may read it), not ending in ObjectKeySuffix (no
        # S3 event queues it a second time).
        assert upload.key.startswith("incoming/") and not upload.key.endswith(".csv")
        assert upload.key.endswith(".csv" + PRIORITY_SUFFIX)
    sqs = stack.client("sqs")
    messages = sqs.receive_message(
        QueueUrl=stack.outputs["PriorityQueueUrl"],
        MaxNumberOfMessages=10,
        MessageAttributeNames=["All"],
    )["Messages"]
    bodies = [json.loads(m["Body"]) for m in messages]
    assert sorted(b["s3_details"]["key"] for b in bodies) == sorted(u.key for u in priority)
    assert all(b["s3_details"]["bucket"] == stack.outputs["BucketName"] for b in bodies)
    assert all(m["MessageAttributes"]["priority"]["DataType"] == "Number" for m in messages)


def test_a_priority_message_pins_the_version_it_uploaded_in_a_versioned_bucket() -> None:
    with mock_aws():
        stack = deploy_fake_stack(versioned=True)
        run_simulation(
            stack.context(),
            SimulationPlan(objects=1, rows=1, priority_share=1.0, run_id="v"),
            progress=False,
        )
        message = stack.client("sqs").receive_message(QueueUrl=stack.outputs["PriorityQueueUrl"])
        details = json.loads(message["Messages"][0]["Body"])["s3_details"]
        head = stack.client("s3").head_object(Bucket=details["bucket"], Key=details["key"])
    assert details["version_id"] == head["VersionId"]


def test_an_empty_suffix_is_noted_since_priority_objects_then_also_arrive_by_event() -> None:
    with mock_aws():
        stack = deploy_fake_stack(suffix="")
        run = run_simulation(
            stack.context(),
            SimulationPlan(objects=2, rows=1, priority_share=0.5, run_id="nosuffix"),
            progress=False,
        )
    assert any("ObjectKeySuffix is empty" in note for note in run.notes)


def test_size_sets_the_rows_per_object(stack: FakeStack) -> None:
    size = 10 * 1024
    run = run_simulation(
        stack.context(), SimulationPlan(objects=2, size=size, run_id="sized"), progress=False
    )
    for upload in run.uploads:
        body = _body(stack, upload.key)
        assert size - ROW_WIDTH < len(body) <= size
        assert upload.rows == len(body.decode().splitlines()) - 1


def test_the_same_run_id_draws_the_same_mix() -> None:
    def mix(run_id: str) -> list[tuple[bool, bool]]:
        from sluice_ops.simulate import plan_items

        plan = SimulationPlan(
            objects=40, odd_key_share=0.2, broken_share=0.2, priority_share=0.1, run_id=run_id
        )
        return [(i.broken is not None, i.priority) for i in plan_items(plan, "p/", ".csv")]

    assert mix("same") == mix("same")
    assert sum(b for b, _ in mix("same")) == 8 and sum(p for _, p in mix("same")) == 4


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        (SimulationPlan(objects=0), "--objects must be at least 1"),
        (SimulationPlan(objects=1, workers=0), "--workers must be at least 1"),
        (SimulationPlan(objects=1, rows=0), "--rows must be at least 1"),
        (SimulationPlan(objects=1, size=10), "--size must be at least"),
        (SimulationPlan(objects=1, broken_share=1.5), "--broken is a share between 0 and 1"),
        (SimulationPlan(objects=1, broken_share=0.6, priority_share=0.6), "cannot exceed 1"),
        (SimulationPlan(objects=1, run_id="a/b"), "no '/'"),
    ],
)
def test_bad_plans_are_refused_with_the_option_named(plan: SimulationPlan, message: str) -> None:
    with pytest.raises(SluiceCliError, match=message):
        plan.check()


def test_cleanup_deletes_every_version_of_the_run_and_nothing_else() -> None:
    with mock_aws():
        stack = deploy_fake_stack(versioned=True)
        ctx = stack.context()
        run_simulation(ctx, SimulationPlan(objects=3, rows=1, run_id="old"), progress=False)
        run_simulation(ctx, SimulationPlan(objects=3, rows=1, run_id="old"), progress=False)
        run_simulation(ctx, SimulationPlan(objects=2, rows=1, run_id="keep"), progress=False)
        s3, bucket = stack.client("s3"), stack.outputs["BucketName"]
        s3.delete_object(Bucket=bucket, Key=_keys(stack, "incoming/sluice-simulate/old/")[0])

        deleted = cleanup(ctx, "old")

        left = s3.list_object_versions(Bucket=bucket)
        keys = [v["Key"] for v in left.get("Versions", []) + left.get("DeleteMarkers", [])]
    assert deleted == 7  # 3 objects x 2 versions, and a delete marker
    assert len(keys) == 2 and all("/keep/" in key for key in keys)


def test_the_command_prints_the_run_id_and_cleans_it_up(
    capsys: pytest.CaptureFixture[str], stack: FakeStack
) -> None:
    status, out, _ = run_sluice(
        capsys, "simulate", "--objects", "4", "--rows", "2", "--no-progress", "--run-id", "cli"
    )
    assert status == 0
    assert "run id: cli" in out and "uploaded 4 objects" in out
    assert "sluice simulate --stack-name sluice --cleanup cli" in out
    assert len(_keys(stack)) == 4

    status, out, _ = run_sluice(capsys, "simulate", "--cleanup", "cli")
    assert status == 0 and "deleted 4" in out
    assert _keys(stack) == []


def test_cleanup_of_an_unknown_run_says_so(
    capsys: pytest.CaptureFixture[str], stack: FakeStack
) -> None:
    status, _, err = run_sluice(capsys, "simulate", "--cleanup", "never-ran")
    assert status == 2
    assert "no objects under" in err and "never-ran" in err


def test_a_refused_upload_names_the_run_to_clean_up(stack: FakeStack) -> None:
    stack.client("s3").delete_bucket(Bucket=stack.outputs["BucketName"])
    with pytest.raises(SluiceCliError, match="--cleanup gone"):
        run_simulation(
            stack.context(), SimulationPlan(objects=3, rows=1, run_id="gone"), progress=False
        )
