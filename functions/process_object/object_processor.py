"""Process one object: stream its rows and send each to the downstream API.

Takes its S3 client and downstream as arguments (no boto3 import at module level), so it runs
the same against AWS, the emulator, or test doubles. ``once`` makes each row's delivery happen at
most once across invocations (app.py backs it with Powertools Idempotency and DynamoDB): a row
delivered by an earlier, crashed or retried invocation is counted as sent, not sent again.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from csv_rows import CsvLimits, RowError, read_rows
from downstream import Downstream, RetryPolicy, SendResult, send_with_retry
from sluice_common.errors import AccessDenied, ObjectNotFound, TransientError
from sluice_common.events import ObjectRef

_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}
_DENIED = {"AccessDenied", "403", "AllAccessDisabled", "KMS.AccessDeniedException"}
_TRANSIENT = {
    "SlowDown",
    "ServiceUnavailable",
    "InternalError",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "Throttling",
    "ThrottlingException",
    "500",
    "503",
}


@dataclass
class ObjectSummary:
    bucket: str
    key: str
    version_id: str | None
    rows_read: int = 0
    rows_sent: int = 0
    rows_failed: int = 0
    failed_rows: list[dict[str, Any]] = field(default_factory=list)
    failed_rows_truncated: bool = False
    retries: int = 0
    duration_ms: int = 0
    requests: int = 0  # downstream requests, retries included
    downstream_ms: int = 0  # time spent waiting for the downstream's answers

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RowBusy(Exception):
    """Another invocation is delivering this row right now (or crashed doing so)."""


class RowNotDelivered(Exception):
    """Raised inside ``once`` so a failed delivery leaves no record and can be tried again."""

    def __init__(self, result: SendResult) -> None:
        super().__init__(result.error)
        self.result = result


# once(key, deliver) -> what deliver returned: deliver() runs at most once per key (a repeat
# returns the first result); raises RowBusy while another invocation holds the key.
Once = Callable[[str, Callable[[], dict[str, Any]]], dict[str, Any]]


def idempotency_key(ref: ObjectRef, row: int, revision: str | None = None) -> str:
    """Same object content + row -> same key, so a repeat is dropped (here and downstream)."""
    return _row_keys(ref, revision)(row)


def _row_keys(ref: ObjectRef, revision: str | None = None) -> Callable[[int], str]:
    """idempotency_key for each row of one object: the object's digest (hashed once), then the
    row number. Unique per row and revision, fixed length per object, no per-row hashing."""
    revision = _version_id(revision) or _version_id(ref.version_id) or ref.etag or ""
    prefix = hashlib.sha256(f"{ref.bucket}/{ref.key}/{revision}".encode()).hexdigest() + "-"
    return lambda row: prefix + str(row)


def _version_id(value: Any) -> str | None:
    """A version id that names one revision, else None. S3 answers "null" (events, GetObject,
    HeadObject) for objects written while versioning is suspended or before it was enabled; in
    a suspended bucket every overwrite is "null" again, so it cannot tell revisions apart."""
    return value if isinstance(value, str) and value and value != "null" else None


def open_object(s3_client: Any, ref: ObjectRef) -> tuple[Any, str, str]:
    """The object's streaming body, the key it was found under and the revision read (version
    id, else ETag: an overwritten object gets new row keys); typed errors otherwise."""
    from botocore.exceptions import BotoCoreError, ClientError

    pinned = _version_id(ref.version_id)
    last_missing: str | None = None
    for key in ref.key_candidates():
        params: dict[str, Any] = {"Bucket": ref.bucket, "Key": key}
        # "null" pins nothing: read the current object and key its rows by the ETag it answers
        # with, as for a never-versioned bucket (VersionId=null could instead return an older
        # null version, or 405 once a delete left a null delete marker).
        if pinned:
            params["VersionId"] = pinned
        try:
            response = s3_client.get_object(**params)
            revision = (
                _version_id(response.get("VersionId")) or response.get("ETag") or ref.etag or ""
            )
            return response["Body"], key, str(revision).strip('"')
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if code in _NOT_FOUND:
                last_missing = key
                continue
            if code == "NoSuchBucket":
                raise ObjectNotFound(f"bucket {ref.bucket} no longer exists ({ref.uri})") from None
            if code == "NoSuchVersion":
                raise ObjectNotFound(
                    f"version {ref.version_id} of {ref.uri} no longer exists"
                ) from None
            if code == "InvalidObjectState":
                raise ObjectNotFound(
                    f"{ref.uri} is in an archive storage class: restore it, then redrive"
                ) from None
            if code in _DENIED:
                raise AccessDenied(
                    f"{ref.uri}: the function's role may not read it ({code}); grant s3:GetObject"
                    " (and kms:Decrypt for SSE-KMS objects)"
                ) from None
            if code in _TRANSIENT or status >= 500:
                raise TransientError(f"S3 answered {code} for {ref.uri}: try again") from None
            raise
        except BotoCoreError as exc:
            raise TransientError(f"could not reach S3 for {ref.uri}: {exc}") from None
    raise ObjectNotFound(f"s3://{ref.bucket}/{last_missing} was deleted before processing")


def process_object(
    s3_client: Any,
    downstream: Downstream,
    ref: ObjectRef,
    policy: RetryPolicy,
    *,
    correlation_id: str | None = None,
    auth_token: str | None = None,
    max_failed_rows_reported: int = 20,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    once: Once | None = None,
    limits: CsvLimits | None = None,
) -> ObjectSummary:
    """Send every row of the object; rows that still fail are counted and listed, not raised.
    Raises RowBusy when another invocation is delivering one of its rows."""
    from botocore.exceptions import BotoCoreError

    started = time.monotonic()
    body, key, revision = open_object(s3_client, ref)
    summary = ObjectSummary(bucket=ref.bucket, key=key, version_id=ref.version_id)
    headers = {"Content-Type": "application/json"}
    if correlation_id:
        headers["X-Correlation-Id"] = correlation_id
    if auth_token:
        headers["Authorization"] = f"Bearer {auth_token}"

    def fail(row: int, error: str) -> None:
        summary.rows_failed += 1
        if len(summary.failed_rows) < max_failed_rows_reported:
            summary.failed_rows.append({"row": row, "error": error})
        else:
            summary.failed_rows_truncated = True

    downstream_s = 0.0
    row_key = _row_keys(ref, revision)
    # The part of every payload that does not change, encoded once per object.
    prefix = json.dumps({"bucket": ref.bucket, "key": key})[:-1] + ', "row": '
    encode = json.JSONEncoder().encode
    try:
        for item in read_rows(body, label=f"s3://{ref.bucket}/{key}", limits=limits):
            summary.rows_read += 1
            if isinstance(item, RowError):
                fail(item.row, item.error)
                continue
            row, data = item
            payload = f'{prefix}{row}, "data": {encode(data)}}}'
            idempotency = row_key(row)

            def deliver(body: bytes = payload.encode(), key: str = idempotency) -> SendResult:
                return send_with_retry(
                    downstream,
                    body,
                    {**headers, "Idempotency-Key": key},
                    policy,
                    sleep=sleep,
                    rng=rng,
                )

            result = deliver() if once is None else _deliver_once(once, idempotency, deliver)
            summary.retries += result.attempts - 1
            if result.latency_s:  # 0: delivered by an earlier invocation, no request now
                summary.requests += result.attempts
            downstream_s += result.latency_s
            if result.ok:
                summary.rows_sent += 1
            else:
                fail(row, result.error or "failed")
    except BotoCoreError as exc:  # the stream broke mid-object
        raise TransientError(
            f"reading s3://{ref.bucket}/{key} failed after {summary.rows_read} rows: {exc}"
        ) from None
    finally:
        close = getattr(body, "close", None)
        if close:
            close()
    summary.duration_ms = int((time.monotonic() - started) * 1000)
    summary.downstream_ms = int(downstream_s * 1000)
    return summary


def _deliver_once(once: Once, key: str, deliver: Callable[[], SendResult]) -> SendResult:
    made: list[SendResult] = []

    def attempt() -> dict[str, Any]:
        result = deliver()
        if not result.ok:
            raise RowNotDelivered(result)  # no record: a later attempt may deliver it
        made.append(result)
        return {"status": result.status, "attempts": result.attempts}

    try:
        done = once(key, attempt)
    except RowNotDelivered as failed:
        return failed.result
    if made:
        return made[0]
    # Delivered now (attempts as made) or by an earlier invocation (attempts: 0 here).
    return SendResult(True, done.get("status"), done.get("attempts", 1))
