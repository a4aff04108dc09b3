"""The object in S3: which revision to read, and its bytes from an offset on.

HeadObject picks the revision (the event's version when it names one, else what is current,
under the first key candidate that exists); GetObject reads it from a byte offset, pinned to that
revision (``VersionId`` when there is one, ``If-Match`` on the ETag), so a resumed invocation
never reads another revision's bytes. Every S3 error becomes a typed error whose message says
what to do (the drain's Catch matches on the names). Takes its S3 client as an argument; botocore
is imported where it is used, not at module level.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sluice_common.errors import AccessDenied, ObjectNotFound, TransientError
from sluice_common.events import ObjectRef

_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}
_DENIED = {"AccessDenied", "403", "AllAccessDisabled", "KMS.AccessDeniedException"}
_CHANGED = {"PreconditionFailed", "412"}
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
# A pinned version can vanish while its message waits (a dead letter is kept 14 days): say how.
_GONE = (
    " (deleted, or expired as a noncurrent version after NoncurrentVersionExpirationDays"
    " when the object was overwritten)"
)


@dataclass(frozen=True)
class Revision:
    key: str  # the key the object was found under
    revision: str  # version id, else ETag
    etag: str
    size: int
    version_id: str | None  # a real version id to pin reads to


def idempotency_key(ref: ObjectRef, row: int, revision: str | None = None) -> str:
    """Same object content + row -> same key, so a repeat is dropped (here and downstream)."""
    return f"{revision_digest(ref, revision)}-{row}"


def revision_digest(ref: ObjectRef, revision: str | None = None) -> str:
    """The revision's digest: names its checkpoint item and prefixes its rows' keys."""
    revision = named_version(revision) or named_version(ref.version_id) or ref.etag or ""
    return hashlib.sha256(f"{ref.bucket}/{ref.key}/{revision}".encode()).hexdigest()


def named_version(value: Any) -> str | None:
    """A version id that names one revision, else None. S3 answers "null" (events, GetObject,
    HeadObject) for objects written while versioning is suspended or before it was enabled; in
    a suspended bucket every overwrite is "null" again, so it cannot tell revisions apart."""
    return value if isinstance(value, str) and value and value != "null" else None


def _s3_error(exc: Exception, ref: ObjectRef, key: str) -> Exception | None:
    """The typed error for an S3 ClientError; None for a missing key (try the next candidate)."""
    response = getattr(exc, "response", {})
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code in _NOT_FOUND:
        return None
    if code == "NoSuchBucket":
        return ObjectNotFound(f"bucket {ref.bucket} no longer exists ({ref.uri})")
    if code in {"NoSuchVersion", "405", "MethodNotAllowed"}:
        return ObjectNotFound(f"version {ref.version_id} of {ref.uri} no longer exists{_GONE}")
    if code == "InvalidObjectState":
        return ObjectNotFound(f"{ref.uri} is in an archive storage class: restore it, then redrive")
    if code in _DENIED:
        return AccessDenied(
            f"{ref.uri}: the function's role may not read it ({code}); grant s3:GetObject"
            " (and kms:Decrypt for SSE-KMS objects)"
        )
    if code in _TRANSIENT or status >= 500:
        return TransientError(f"S3 answered {code} for {ref.uri}: try again")
    return exc


def head_object(s3_client: Any, ref: ObjectRef, keys: list[str]) -> Revision:
    """The revision to process: the event's version when it names one, else what is current,
    under the first of ``keys`` (``ref``'s key candidates this pipeline may read) that exists."""
    from botocore.exceptions import BotoCoreError, ClientError

    pinned = named_version(ref.version_id)
    last_missing: str | None = None
    for key in keys:
        params: dict[str, Any] = {"Bucket": ref.bucket, "Key": key}
        # "null" pins nothing: read the current object and key its rows by its ETag, as for a
        # never-versioned bucket (VersionId=null could return an older null version).
        if pinned:
            params["VersionId"] = pinned
        try:
            response = s3_client.head_object(**params)
        except ClientError as exc:
            error = _s3_error(exc, ref, key)
            if error is None:
                last_missing = key
                continue
            raise error from None
        except BotoCoreError as exc:
            raise TransientError(f"could not reach S3 for {ref.uri}: {exc}") from None
        etag = str(response.get("ETag") or ref.etag or "").strip('"')
        version = named_version(response.get("VersionId"))
        return Revision(
            key=key,
            revision=version or etag,
            etag=etag,
            size=int(response.get("ContentLength", 0)),
            version_id=version,
        )
    if pinned:
        # HeadObject answers a bare 404 (no error code) for a version that is gone, too.
        raise ObjectNotFound(
            f"version {pinned} of s3://{ref.bucket}/{last_missing} no longer exists{_GONE}"
        )
    raise ObjectNotFound(f"s3://{ref.bucket}/{last_missing} was deleted before processing")


class ObjectChanged(Exception):
    """The object was overwritten between HeadObject and GetObject (If-Match failed)."""


def open_range(s3_client: Any, ref: ObjectRef, revision: Revision, offset: int) -> Any:
    """The revision's body from ``offset`` on; ObjectChanged when it is no longer current."""
    from botocore.exceptions import BotoCoreError, ClientError

    params: dict[str, Any] = {"Bucket": ref.bucket, "Key": revision.key}
    if revision.version_id:
        params["VersionId"] = revision.version_id
    if revision.etag:
        params["IfMatch"] = f'"{revision.etag}"'
    if offset:
        params["Range"] = f"bytes={offset}-"
    try:
        return s3_client.get_object(**params)["Body"]
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code", "")) in _CHANGED:
            raise ObjectChanged from None
        error = _s3_error(exc, ref, revision.key)
        raise (error or ObjectNotFound(f"{ref.uri} was deleted during processing")) from None
    except BotoCoreError as exc:
        raise TransientError(f"could not reach S3 for {ref.uri}: {exc}") from None
