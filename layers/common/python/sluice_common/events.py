"""Which object an event is about, from either shape the pipeline accepts.

1. The seeds' contract ``{"s3_details": {"bucket": ..., "key": ..., "version_id"?, "etag"?,
   "size"?, "source"?}}``: the key is the real key, never URL-encoded.
2. An EventBridge S3 "Object Created" event, parsed with Powertools' event class.

Object keys in EventBridge events: AWS documents URL-encoding for classic notifications
(S3 -> SQS/SNS/Lambda: "red flower.jpg" arrives as "red+flower.jpg") but not for EventBridge;
a captured AWS EventBridge event shows a raw ':' in a key (classic encoding would give "%3A"),
moto sends raw keys, while Powertools' ``S3EventBridgeNotificationObject.key`` applies
``unquote_plus``. Decoding blindly would corrupt real keys containing '+' or '%'; not decoding
would miss keys if AWS encodes. So the key is taken as sent (``raw_key``) and, for EventBridge
events only, the form-decoded key is tried when the raw one does not exist
(:meth:`ObjectRef.key_candidates`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from sluice_common.errors import MalformedEvent, NotCsv
from sluice_common.redact import mask_pans

SOURCE_S3_DETAILS = "s3_details"
SOURCE_EVENTBRIDGE = "eventbridge"


@dataclass(frozen=True)
class ObjectRef:
    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None
    source: str = SOURCE_S3_DETAILS

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def key_candidates(self) -> list[str]:
        """Keys to try in order (see the module docstring)."""
        if self.source != SOURCE_EVENTBRIDGE:
            return [self.key]
        decoded = unquote_plus(self.key)
        return [self.key] if decoded == self.key else [self.key, decoded]

    def to_s3_details(self) -> dict[str, Any]:
        """This reference in the s3_details contract (what the drain passes on)."""
        details: dict[str, Any] = {"bucket": self.bucket, "key": self.key}
        for name in ("version_id", "etag", "size"):
            value = getattr(self, name)
            if value is not None:
                details[name] = value
        if self.source != SOURCE_S3_DETAILS:
            details["source"] = self.source
        return details


def _shown(value: Any) -> str:
    # A rejected value in a dead-letter reason: card-number-like runs masked, cut short.
    text = mask_pans(repr(value))
    return text if len(text) <= 60 else text[:57] + "..."


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise MalformedEvent(f"{what} is missing or not a non-empty string")
    return value


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _optional_text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _optional_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _checked(ref: ObjectRef) -> ObjectRef:
    if ref.key.endswith("/"):
        raise NotCsv(f"{ref.uri} is a folder marker, not an object with rows")
    return ref


def _from_s3_details(details: Any) -> ObjectRef:
    if not isinstance(details, Mapping):
        raise MalformedEvent("s3_details must be an object with bucket and key")
    source = details.get("source", SOURCE_S3_DETAILS)
    if source not in (SOURCE_S3_DETAILS, SOURCE_EVENTBRIDGE):
        raise MalformedEvent(f"s3_details.source {_shown(source)} is not known")
    return ObjectRef(
        bucket=_text(details.get("bucket"), "s3_details.bucket"),
        key=_text(details.get("key"), "s3_details.key"),
        version_id=_optional_text(details.get("version_id")),
        etag=_optional_text(details.get("etag")),
        size=_optional_int(details.get("size")),
        source=source,
    )


def _from_eventbridge(event: Mapping[str, Any]) -> ObjectRef:
    from aws_lambda_powertools.utilities.data_classes import S3EventBridgeNotificationEvent

    if event.get("source") != "aws.s3" or event.get("detail-type") != "Object Created":
        raise MalformedEvent(
            f"expected an aws.s3 'Object Created' event, got source={_shown(event.get('source'))} "
            f"detail-type={_shown(event.get('detail-type'))}"
        )
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise MalformedEvent("EventBridge event has no detail object")
    parsed = S3EventBridgeNotificationEvent(dict(event))
    bucket = _mapping(detail.get("bucket"))
    obj = _mapping(detail.get("object"))
    _text(bucket.get("name"), "detail.bucket.name")
    key = _text(obj.get("key"), "detail.object.key")  # as sent: see module docstring
    # AWS writes "etag"; moto writes "eTag".
    etag = obj.get("etag", obj.get("eTag"))
    return ObjectRef(
        bucket=parsed.detail.bucket.name,
        key=key,
        version_id=_optional_text(obj.get("version-id")),
        etag=_optional_text(etag),
        size=_optional_int(obj.get("size")),
        source=SOURCE_EVENTBRIDGE,
    )


def parse_object_ref(event: Any) -> ObjectRef:
    """The object an event names; :class:`MalformedEvent` for anything else."""
    if not isinstance(event, Mapping):
        raise MalformedEvent(f"event must be a JSON object, got {type(event).__name__}")
    if "s3_details" in event:
        return _checked(_from_s3_details(event["s3_details"]))
    if "detail-type" in event or "source" in event:
        return _checked(_from_eventbridge(event))
    raise MalformedEvent(
        "event is neither {'s3_details': {...}} nor an EventBridge S3 'Object Created' event "
        f"(top-level keys: {sorted(mask_pans(str(k))[:64] for k in event)[:10]})"
    )
