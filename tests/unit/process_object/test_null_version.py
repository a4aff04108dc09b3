"""Objects in a versioning-suspended bucket all have the version id "null" (events, GetObject):
rows are keyed by the ETag then, so an overwrite's rows are new rows, not repeats."""

from __future__ import annotations

import hashlib
import io
import random
import uuid
from typing import Any

import boto3

from checkpoint import CheckpointStore
from downstream import HttpDownstream, RetryPolicy
from object_processor import process_object
from object_source import idempotency_key
from sluice_common.events import ObjectRef, parse_object_ref
from sluice_local.servers.downstream import DownstreamServer

BUCKET = "suspended-bucket"
POLICY = RetryPolicy(max_attempts=2, base_s=0.01, cap_s=0.02)


class SuspendedS3:
    """HeadObject and GetObject as S3 answers them in a versioning-suspended bucket: one current
    object per key, VersionId "null" whatever was written before, the ETag of the bytes."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.calls: list[dict[str, Any]] = []

    def put(self, key: str, body: bytes) -> str:
        self.objects[key] = body
        return hashlib.md5(body).hexdigest()  # a single-part upload's ETag

    def head_object(self, **params: Any) -> dict[str, Any]:
        self.calls.append(params)
        assert params.get("VersionId") in (None, "null")
        body = self.objects[params["Key"]]
        etag = hashlib.md5(body).hexdigest()
        return {"VersionId": "null", "ETag": f'"{etag}"', "ContentLength": len(body)}

    def get_object(self, **params: Any) -> dict[str, Any]:
        self.calls.append(params)
        assert params.get("VersionId") in (None, "null")
        body = self.objects[params["Key"]]
        etag = hashlib.md5(body).hexdigest()
        assert params["IfMatch"] == f'"{etag}"'  # the revision HeadObject named
        assert "Range" not in params  # each revision here is read in one go, from byte 0
        return {"Body": io.BytesIO(body), "VersionId": "null", "ETag": f'"{etag}"'}


def event(key: str, etag: str) -> dict[str, Any]:
    """The EventBridge "Object Created" event S3 sends for a suspended bucket's object."""
    return {
        "version": "0",
        "id": "e7a1b4b6-0000-0000-0000-000000000000",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "111122223333",
        "time": "2024-01-15T10:00:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{BUCKET}"],
        "detail": {
            "version": "0",
            "bucket": {"name": BUCKET},
            "object": {"key": key, "size": 10, "etag": etag, "version-id": "null"},
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "111122223333",
            "reason": "PutObject",
        },
    }


def test_a_null_version_id_keys_rows_by_the_etag() -> None:
    first = ObjectRef(BUCKET, "k.csv", version_id="null", etag="e1")
    overwrite = ObjectRef(BUCKET, "k.csv", version_id="null", etag="e2")
    assert idempotency_key(first, 1) != idempotency_key(overwrite, 1)
    assert idempotency_key(first, 1) == idempotency_key(ObjectRef(BUCKET, "k.csv", etag="e1"), 1)
    # The revision S3 answered with: "null" names no revision either.
    assert idempotency_key(first, 1, "null") != idempotency_key(overwrite, 1, "null")


def test_an_overwrite_in_a_suspended_bucket_sends_all_its_rows(
    api: DownstreamServer, checkpoint_table: str
) -> None:
    s3 = SuspendedS3()
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")

    def process(etag: str) -> Any:
        ref = parse_object_ref(event("in/daily.csv", etag))
        assert ref.version_id == "null"
        store = CheckpointStore(
            dynamodb, checkpoint_table, ttl_days=30, owner=f"request-{uuid.uuid4()}"
        )
        return process_object(
            s3, HttpDownstream(api.url, 2.0), ref, POLICY, rng=random.Random(1), store=store
        )

    first = process(s3.put("in/daily.csv", b"id,amount\n1,10\n2,20\n3,30\n"))
    again = process(s3.put("in/daily.csv", b"id,amount\n1,10\n2,20\n3,30\n"))  # a redelivery
    new = process(s3.put("in/daily.csv", b"id,amount\n1,11\n2,21\n3,31\n4,41\n"))

    # The redelivery is the same revision (same ETag): its checkpoint says done, nothing sent.
    assert (first.rows_sent, again.rows_sent, new.rows_sent) == (3, 0, 4)
    assert first.revision == again.revision != new.revision
    sent = [(r.body["row"], r.body["data"]["amount"]) for r in api.requests]
    assert sent == [(1, "10"), (2, "20"), (3, "30"), (1, "11"), (2, "21"), (3, "31"), (4, "41")]
    assert api.duplicate_keys() == {}
    # "null" pins nothing: the current object is read, never VersionId=null.
    assert all("VersionId" not in call for call in s3.calls)
    # One checkpoint per revision: keyed by the ETag, as the rows are.
    assert len(dynamodb.scan(TableName=checkpoint_table)["Items"]) == 2
