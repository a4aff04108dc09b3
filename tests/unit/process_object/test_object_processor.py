"""process_object against emulated S3 and a real local HTTP server."""

from __future__ import annotations

import random
import re
import time
import uuid
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from checkpoint import CheckpointStore
from downstream import HttpDownstream, RetryPolicy
from object_processor import process_object
from object_source import idempotency_key, revision_digest
from sluice_common.errors import AccessDenied, ObjectBusy, ObjectNotFound, TransientError
from sluice_common.events import SOURCE_EVENTBRIDGE, ObjectRef
from sluice_local.servers.downstream import DownstreamServer

BUCKET = "sluice-demo-bucket"
POLICY = RetryPolicy(max_attempts=3, base_s=0.01, cap_s=0.05)
CSV = b'id,name\n1,ada\n2,"grace, rear admiral"\n3,linus\n'


def run(s3: Any, api: DownstreamServer, ref: ObjectRef, **kwargs: Any) -> Any:
    return process_object(
        s3, HttpDownstream(api.url, 2.0), ref, POLICY, rng=random.Random(1), **kwargs
    )


def test_every_row_is_posted_once_with_idempotency_and_correlation(
    s3: Any, api: DownstreamServer
) -> None:
    s3.put_object(Bucket=BUCKET, Key="in/orders.csv", Body=CSV)
    ref = ObjectRef(BUCKET, "in/orders.csv", etag="abc")
    summary = run(s3, api, ref, correlation_id="msg-1", auth_token="s3cret")

    assert (summary.rows_read, summary.rows_sent, summary.rows_failed) == (3, 3, 0)
    bodies = [r.body for r in api.requests]
    assert bodies[1] == {
        "bucket": BUCKET,
        "key": "in/orders.csv",
        "row": 2,
        "data": {"id": "2", "name": "grace, rear admiral"},
    }
    keys = [r.headers["Idempotency-Key"] for r in api.requests]
    etag = s3.head_object(Bucket=BUCKET, Key="in/orders.csv")["ETag"].strip('"')
    assert keys == [idempotency_key(ref, n, etag) for n in (1, 2, 3)]  # the revision read
    assert len(set(keys)) == 3
    assert {r.headers["X-Correlation-Id"] for r in api.requests} == {"msg-1"}
    assert {r.headers["Authorization"] for r in api.requests} == {"Bearer s3cret"}


@pytest.mark.parametrize(
    "key",
    [
        "in/with space.csv",
        "in/caf\u00e9 \u6771\u4eac.csv",
        "in/a+b.csv",
        "in/100%.csv",
        "in/2024-01-15T10:00:00Z.csv",
        "in/deep/er/x.csv",
    ],
)
def test_odd_keys_are_read_as_given(s3: Any, api: DownstreamServer, key: str) -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body=CSV)
    summary = run(s3, api, ObjectRef(BUCKET, key))
    assert (summary.key, summary.rows_sent) == (key, 3)
    assert {r.body["key"] for r in api.requests} == {key}


def test_eventbridge_keys_are_taken_raw_then_form_decoded(s3: Any, api: DownstreamServer) -> None:
    s3.put_object(Bucket=BUCKET, Key="in/a+b.csv", Body=CSV)  # a real '+': raw key wins
    s3.put_object(Bucket=BUCKET, Key="in/red flower.csv", Body=CSV)  # encoded in the event
    raw = run(s3, api, ObjectRef(BUCKET, "in/a+b.csv", source=SOURCE_EVENTBRIDGE))
    encoded = run(s3, api, ObjectRef(BUCKET, "in/red+flower.csv", source=SOURCE_EVENTBRIDGE))
    assert (raw.key, encoded.key) == ("in/a+b.csv", "in/red flower.csv")
    with pytest.raises(ObjectNotFound):  # the contract's keys are never decoded
        run(s3, api, ObjectRef(BUCKET, "in/red+flower.csv"))


def test_missing_object_and_bucket_raise_object_not_found(s3: Any, api: DownstreamServer) -> None:
    with pytest.raises(
        ObjectNotFound, match=re.escape("s3://sluice-demo-bucket/in/gone.csv was deleted")
    ):
        run(s3, api, ObjectRef(BUCKET, "in/gone.csv"))
    with pytest.raises(ObjectNotFound, match="bucket no-such-bucket no longer exists"):
        run(s3, api, ObjectRef("no-such-bucket", "in/x.csv"))
    assert api.requests == []


def test_a_pinned_version_is_read_even_after_overwrite(s3: Any, api: DownstreamServer) -> None:
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket=BUCKET, Key="in/v.csv", Body=b"id\n1\n")["VersionId"]
    s3.put_object(Bucket=BUCKET, Key="in/v.csv", Body=b"id\n1\n2\n3\n")
    summary = run(s3, api, ObjectRef(BUCKET, "in/v.csv", version_id=first))
    assert summary.rows_sent == 1


HEAD = {"ETag": '"e1"', "ContentLength": 10, "VersionId": "v9"}
GONE = "(deleted, or expired as a noncurrent"


class NoApi:
    """A downstream never reached: S3 fails first."""

    request_timeout_s = 2.0

    def post(self, body: bytes, headers: Any) -> Any:
        raise AssertionError("nothing is sent")


@pytest.mark.parametrize(
    ("operation", "code", "status", "error", "hint"),
    [
        # HeadObject answers without a body: S3's error code is the bare status.
        ("head", "403", 403, AccessDenied, "grant s3:GetObject"),
        ("head", "503", 503, TransientError, "try again"),
        ("head", "500", 500, TransientError, "try again"),
        ("head", "SlowDown", 503, TransientError, "try again"),
        ("head", "405", 405, ObjectNotFound, "version v9 of"),  # the version is a delete marker
        ("head", "404", 404, ObjectNotFound, f"k.csv no longer exists {GONE}"),
        ("head", "NoSuchBucket", 404, ObjectNotFound, "bucket sluice-demo-bucket no longer exists"),
        # GetObject, after HeadObject succeeded.
        ("get", "AccessDenied", 403, AccessDenied, "grant s3:GetObject"),
        ("get", "KMS.AccessDeniedException", 400, AccessDenied, "kms:Decrypt"),
        ("get", "SlowDown", 503, TransientError, "try again"),
        ("get", "InvalidObjectState", 403, ObjectNotFound, "restore it, then redrive"),
        ("get", "NoSuchVersion", 404, ObjectNotFound, "after NoncurrentVersionExpirationDays"),
        ("get", "NoSuchKey", 404, ObjectNotFound, "was deleted during processing"),
    ],
)
def test_s3_errors_become_typed_errors_with_a_hint(
    operation: str, code: str, status: int, error: type[Exception], hint: str
) -> None:
    client = boto3.client("s3", region_name="us-east-1")
    with Stubber(client) as stub:
        if operation == "get":
            stub.add_response("head_object", HEAD)  # HeadObject succeeds; GetObject does not
        stub.add_client_error(f"{operation}_object", code, "from S3", http_status_code=status)
        with pytest.raises(error, match=re.escape(hint)):
            process_object(client, NoApi(), ObjectRef(BUCKET, "k.csv", version_id="v9"), POLICY)


@pytest.mark.parametrize("operation", ["head_object", "get_object"])
def test_unknown_s3_errors_propagate_unchanged(operation: str) -> None:
    client = boto3.client("s3", region_name="us-east-1")
    with Stubber(client) as stub:
        if operation == "get_object":
            stub.add_response("head_object", HEAD)
        stub.add_client_error(operation, "SomethingNew", http_status_code=400)
        with pytest.raises(ClientError, match="SomethingNew"):
            process_object(client, NoApi(), ObjectRef(BUCKET, "k.csv"), POLICY)


def test_an_object_that_keeps_changing_while_it_is_opened_is_a_transient_error() -> None:
    client = boto3.client("s3", region_name="us-east-1")
    with Stubber(client) as stub:
        for _ in range(3):
            stub.add_response("head_object", HEAD)
            stub.add_client_error("get_object", "PreconditionFailed", http_status_code=412)
        with pytest.raises(TransientError, match="keeps changing while it is opened"):
            process_object(client, NoApi(), ObjectRef(BUCKET, "k.csv"), POLICY)


def test_rows_that_still_fail_are_counted_and_listed_never_dropped(
    s3: Any, api: DownstreamServer
) -> None:
    rows = b"id\n" + b"".join(b"%d\n" % n for n in range(1, 31))
    s3.put_object(Bucket=BUCKET, Key="in/many.csv", Body=rows + b"31,extra\n")
    api.script(*([200] * 5 + [400] * 25))
    summary = run(s3, api, ObjectRef(BUCKET, "in/many.csv"), max_failed_rows_reported=10)
    assert (summary.rows_read, summary.rows_sent, summary.rows_failed) == (31, 5, 26)
    assert summary.failed_rows[0] == {"row": 6, "error": "HTTP 400 (not retried)"}
    assert len(summary.failed_rows) == 10 and summary.failed_rows_truncated
    assert summary.rows_sent + summary.rows_failed == summary.rows_read


def test_retries_are_counted_in_the_summary(s3: Any, api: DownstreamServer) -> None:
    s3.put_object(Bucket=BUCKET, Key="in/r.csv", Body=CSV)
    api.script(503, 503)
    summary = run(s3, api, ObjectRef(BUCKET, "in/r.csv"))
    assert (summary.rows_sent, summary.retries) == (3, 2)
    assert summary.to_dict()["duration_ms"] >= 0


def test_idempotency_key_changes_with_the_object_revision() -> None:
    a = idempotency_key(ObjectRef("b", "k", version_id="1"), 1)
    assert a == idempotency_key(ObjectRef("b", "k", version_id="1"), 1)
    assert a != idempotency_key(ObjectRef("b", "k", version_id="2"), 1)
    assert a != idempotency_key(ObjectRef("b", "k", version_id="1"), 2)


def store(table: str) -> CheckpointStore:
    """One invocation's checkpoint store (its owner: a new request id)."""
    return CheckpointStore(
        boto3.client("dynamodb", region_name="us-east-1"),
        table,
        ttl_days=30,
        owner=f"request-{uuid.uuid4()}",
    )


def test_a_second_run_sends_no_row_twice_and_an_overwrite_sends_again(
    s3: Any, api: DownstreamServer, checkpoint_table: str
) -> None:
    s3.put_object(Bucket=BUCKET, Key="in/again.csv", Body=CSV)
    ref = ObjectRef(BUCKET, "in/again.csv")
    first = run(s3, api, ref, store=store(checkpoint_table))
    second = run(s3, api, ref, store=store(checkpoint_table))  # a redelivery, a retry, a redrive
    assert (first.rows_sent, second.rows_sent) == (3, 0)
    assert (second.unfinished, second.rows_failed) == (False, 0)
    assert len(api.requests) == 3
    s3.put_object(Bucket=BUCKET, Key="in/again.csv", Body=CSV + b"4,new\n")  # new content
    third = run(s3, api, ref, store=store(checkpoint_table))
    assert third.rows_sent == 4 and len(api.requests) == 3 + 4
    assert api.duplicate_keys() == {}
    # One checkpoint item per revision, each done, no lease held.
    items = boto3.client("dynamodb", region_name="us-east-1").scan(TableName=checkpoint_table)
    assert len(items["Items"]) == 2
    assert all(i["done"] == {"BOOL": True} and "owner" not in i for i in items["Items"])


def test_a_row_that_failed_is_tried_again_by_the_next_run(
    s3: Any, api: DownstreamServer, checkpoint_table: str
) -> None:
    s3.put_object(Bucket=BUCKET, Key="in/refused.csv", Body=CSV)
    ref = ObjectRef(BUCKET, "in/refused.csv")
    api.script(200, 422)  # row 2 refused for good this time
    first = run(s3, api, ref, store=store(checkpoint_table))
    assert (first.rows_sent, first.rows_failed) == (2, 1)
    again = run(s3, api, ref, store=store(checkpoint_table))  # the redrive
    assert (again.rows_sent, again.rows_failed, again.pass_number) == (1, 0, 1)
    assert [r.body["row"] for r in api.requests] == [1, 2, 3, 2]
    keys = [r.headers["Idempotency-Key"] for r in api.requests]
    assert keys[3] == keys[1]


def test_an_object_held_by_another_invocation_is_busy_and_sends_nothing(
    s3: Any, api: DownstreamServer, checkpoint_table: str
) -> None:
    s3.put_object(Bucket=BUCKET, Key="in/busy.csv", Body=CSV)
    ref = ObjectRef(BUCKET, "in/busy.csv")
    etag = s3.head_object(Bucket=BUCKET, Key="in/busy.csv")["ETag"].strip('"')
    holder = store(checkpoint_table)
    holder.take(
        revision_digest(ref, etag), revision=etag, etag=etag, size=len(CSV), until=time.time() + 60
    )
    with pytest.raises(ObjectBusy, match="another invocation is processing this object"):
        run(s3, api, ref, store=store(checkpoint_table))
    assert api.requests == []
