"""S3 as AWS runs it, where moto departs: bucket properties and the "null" version id of
objects written while versioning is suspended (in responses and in their EventBridge events).
"""

from __future__ import annotations

from typing import Any


def install_bucket_properties() -> None:
    """moto's CloudFormation applies only BucketEncryption and Tags of an AWS::S3::Bucket;
    AWS also applies EventBridge notifications and versioning, which the pipeline relies on."""
    from moto.s3.models import FakeBucket

    original = FakeBucket.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_from_cloudformation_json(
        cls: Any,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        bucket = original(
            cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
        )
        properties = cloudformation_json.get("Properties", {})
        notifications = properties.get("NotificationConfiguration", {})
        eventbridge = notifications.get("EventBridgeConfiguration", {})
        if eventbridge.get("EventBridgeEnabled") in (True, "true"):
            bucket.set_notification_configuration({"EventBridgeConfiguration": {}})
        status = properties.get("VersioningConfiguration", {}).get("Status")
        if status in ("Enabled", "Suspended"):
            bucket.versioning_status = status
        return bucket

    FakeBucket.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)  # type: ignore[method-assign,assignment]


def _bucket_versioning(bucket_name: str | None) -> str | None:
    """The bucket's versioning status ("Enabled", "Suspended"), None if never versioned."""
    from moto.s3.models import s3_backends

    located = s3_backends.bucket_accounts.get(bucket_name or "")
    if located is None:
        return None
    partition, account_id = located
    bucket = s3_backends[account_id][partition].buckets.get(bucket_name or "")
    return getattr(bucket, "versioning_status", None)


def install_null_version_ids() -> None:
    """S3 gives an object written while versioning is suspended (or before it was enabled) the
    version id "null" and says so: `x-amz-version-id: null` on PutObject, GetObject and
    HeadObject once the bucket has a versioning status, `version-id: "null"` in its
    EventBridge event, and HeadObject with VersionId=null finds it. A never-versioned bucket
    answers no version id anywhere. moto left the header out for "null", put `version-id:
    "null"` in never-versioned buckets' events and refused HeadObject with a version id (400)
    unless versioning is Enabled, so code keyed on VersionId met a different S3 locally."""
    import contextvars

    from moto.events.models import Rule
    from moto.s3.models import FakeBucket, FakeKey
    from moto.s3.responses import S3Response

    response_dict = FakeKey.response_dict

    def null_version_header(self: Any) -> dict[str, Any]:
        headers: dict[str, Any] = response_dict.fget(self)  # type: ignore[attr-defined]
        if (
            "x-amz-version-id" not in headers
            and self.version_id == "null"
            and _bucket_versioning(self.bucket_name) is not None
        ):
            headers["x-amz-version-id"] = "null"
        return headers

    FakeKey.response_dict = property(null_version_header)  # type: ignore[method-assign,assignment]

    # HeadObject refuses a version id unless the bucket "is versioned" (Enabled); S3 looks the
    # id up in any bucket with a versioning status. Widen that one check, for HEAD only.
    in_head = contextvars.ContextVar("sluice_s3_head", default=False)
    is_versioned = FakeBucket.is_versioned

    def versioned(self: Any) -> bool:
        enabled: bool = is_versioned.fget(self)  # type: ignore[attr-defined]
        return enabled or (in_head.get() and self.versioning_status is not None)

    FakeBucket.is_versioned = property(versioned)  # type: ignore[method-assign,assignment]
    head_object = S3Response.head_object

    def head(self: Any, *args: Any, **kwargs: Any) -> Any:
        token = in_head.set(True)
        try:
            return head_object(self, *args, **kwargs)
        finally:
            in_head.reset(token)

    S3Response.head_object = head  # type: ignore[method-assign]

    send_to_targets = Rule.send_to_targets

    def without_null_version(self: Any, event: Any, transform_input: bool = True) -> None:
        # moto builds the S3 event from the key alone; the bucket decides if it has a version.
        detail = event.get("detail") if event.get("source") == "aws.s3" else None
        if isinstance(detail, dict) and isinstance(detail.get("object"), dict):
            obj, bucket = detail["object"], detail.get("bucket") or {}
            if obj.get("version-id") == "null" and _bucket_versioning(bucket.get("name")) is None:
                obj = {k: v for k, v in obj.items() if k != "version-id"}
                event = {**event, "detail": {**detail, "object": obj}}
        send_to_targets(self, event, transform_input)

    Rule.send_to_targets = without_null_version  # type: ignore[method-assign,assignment]
