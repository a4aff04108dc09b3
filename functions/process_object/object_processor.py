"""Process one object: stream its rows and send each to the downstream API.

Takes its S3 client and downstream as arguments (no boto3 import at module level), so it runs
the same against AWS, the emulator, or test doubles.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from csv_rows import RowError, read_rows
from downstream import Downstream, RetryPolicy, send_with_retry
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def idempotency_key(ref: ObjectRef, row: int) -> str:
    """Same object content + row -> same key, so the downstream can drop a repeat."""
    return _row_keys(ref)(row)


def _row_keys(ref: ObjectRef) -> Callable[[int], str]:
    """idempotency_key for each row of one object: the object's digest (hashed once), then the
    row number. Unique per row and revision, fixed length per object, no per-row hashing."""
    revision = ref.version_id or ref.etag or ""
    prefix = hashlib.sha256(f"{ref.bucket}/{ref.key}/{revision}".encode()).hexdigest() + "-"
    return lambda row: prefix + str(row)


def open_object(s3_client: Any, ref: ObjectRef) -> tuple[Any, str]:
    """The object's streaming body and the key it was found under; typed errors otherwise."""
    from botocore.exceptions import BotoCoreError, ClientError

    last_missing: str | None = None
    for key in ref.key_candidates():
        params: dict[str, Any] = {"Bucket": ref.bucket, "Key": key}
        if ref.version_id:
            params["VersionId"] = ref.version_id
        try:
            return s3_client.get_object(**params)["Body"], key
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
) -> ObjectSummary:
    """Send every row of the object; rows that still fail are counted and listed, not raised."""
    from botocore.exceptions import BotoCoreError

    started = time.monotonic()
    body, key = open_object(s3_client, ref)
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

    row_key = _row_keys(ref)
    # The part of every payload that does not change, encoded once per object.
    prefix = json.dumps({"bucket": ref.bucket, "key": key})[:-1] + ', "row": '
    encode = json.JSONEncoder().encode
    try:
        for item in read_rows(body, label=f"s3://{ref.bucket}/{key}"):
            summary.rows_read += 1
            if isinstance(item, RowError):
                fail(item.row, item.error)
                continue
            row, data = item
            payload = f'{prefix}{row}, "data": {encode(data)}}}'
            result = send_with_retry(
                downstream,
                payload.encode(),
                {**headers, "Idempotency-Key": row_key(row)},
                policy,
                sleep=sleep,
                rng=rng,
            )
            summary.retries += result.attempts - 1
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
    return summary
