"""process_object against emulated S3 and a real local HTTP server."""

from __future__ import annotations

import random
import re
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from downstream import HttpDownstream, RetryPolicy
from object_processor import RowBusy, idempotency_key, process_object
from sluice_common.errors import AccessDenied, ObjectNotFound, TransientError
from sluice_common.events import SOURCE_EVENTBRIDGE, ObjectRef
from sluice_local.downstream import DownstreamServer

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


@pytest.mark.parametrize(
    ("code", "status", "error", "hint"),
    [
        ("AccessDenied", 403, AccessDenied, "grant s3:GetObject"),
        ("KMS.AccessDeniedException", 400, AccessDenied, "kms:Decrypt"),
        ("SlowDown", 503, TransientError, "try again"),
        ("InvalidObjectState", 403, ObjectNotFound, "restore it, then redrive"),
        ("NoSuchVersion", 404, ObjectNotFound, "version v9 of"),
    ],
)
def test_s3_errors_become_typed_errors_with_a_hint(
    code: str, status: int, error: type[Exception], hint: str
) -> None:
    client = boto3.client("s3", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_client_error("get_object", code, "from S3", http_status_code=status)
        with pytest.raises(error, match=hint.replace(".", r"\.")):
            process_object(
                client,
                None,
                ObjectRef(BUCKET, "k.csv", version_id="v9"),  # type: ignore[arg-type]
                POLICY,
            )


def test_unknown_s3_errors_propagate_unchanged() -> None:
    client = boto3.client("s3", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_client_error("get_object", "SomethingNew", http_status_code=400)
        with pytest.raises(ClientError):
            process_object(client, None, ObjectRef(BUCKET, "k.csv"), POLICY)  # type: ignore[arg-type]


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


class OnceStore:
    """``once`` as Powertools Idempotency behaves: a completed key returns its first result; a
    key whose delivery raised leaves no record; a key held elsewhere raises RowBusy."""

    def __init__(self) -> None:
        self.done: dict[str, dict[str, Any]] = {}
        self.held: set[str] = set()

    def __call__(self, key: str, deliver: Any) -> dict[str, Any]:
        if key in self.held:
            raise RowBusy(key)
        if key not in self.done:
            self.done[key] = deliver()
        return self.done[key]


def test_a_second_run_sends_no_row_twice_and_an_overwrite_sends_again(
    s3: Any, api: DownstreamServer
) -> None:
    once = OnceStore()
    s3.put_object(Bucket=BUCKET, Key="in/again.csv", Body=CSV)
    ref = ObjectRef(BUCKET, "in/again.csv")
    first = run(s3, api, ref, once=once)
    second = run(s3, api, ref, once=once)  # a redelivery, a retry after a crash, a redrive
    assert (first.rows_sent, second.rows_sent) == (3, 3)
    assert len(api.requests) == 3
    s3.put_object(Bucket=BUCKET, Key="in/again.csv", Body=CSV + b"4,new\n")  # new content
    third = run(s3, api, ref, once=once)
    assert third.rows_sent == 4 and len(api.requests) == 3 + 4


def test_a_row_that_failed_is_tried_again_on_the_next_run(s3: Any, api: DownstreamServer) -> None:
    once = OnceStore()
    s3.put_object(Bucket=BUCKET, Key="in/refused.csv", Body=CSV)
    ref = ObjectRef(BUCKET, "in/refused.csv")
    api.script(200, 422)  # row 2 refused for good this time
    first = run(s3, api, ref, once=once)
    assert (first.rows_sent, first.rows_failed) == (2, 1)
    again = run(s3, api, ref, once=once)
    assert (again.rows_sent, again.rows_failed) == (3, 0)
    assert [r.body["row"] for r in api.requests] == [1, 2, 3, 2]


def test_a_row_held_by_another_invocation_stops_the_object(s3: Any, api: DownstreamServer) -> None:
    once = OnceStore()
    s3.put_object(Bucket=BUCKET, Key="in/busy.csv", Body=CSV)
    ref = ObjectRef(BUCKET, "in/busy.csv")
    etag = s3.head_object(Bucket=BUCKET, Key="in/busy.csv")["ETag"].strip('"')
    once.held.add(idempotency_key(ref, 2, etag))
    with pytest.raises(RowBusy):
        run(s3, api, ref, once=once)
    assert [r.body["row"] for r in api.requests] == [1]
