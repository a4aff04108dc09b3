"""A stream pipeline event: a Kinesis record's data, checked, normalized and enriched into the
StreamEventTable item.

The record's ``data`` (base64, as Lambda delivers it) is a UTF-8 JSON object (camelCase):

Required: ``eventId`` and ``userId`` (1..64 of ``[A-Za-z0-9._:-]``; ``eventId`` is the
producer's id for the event and the table key, so a replayed or re-sent record overwrites its
own item), ``eventType`` (a key of :data:`CATEGORIES`, lower case), ``timestamp`` (ISO 8601
with ``Z`` or an offset). Optional: ``value`` (required for a purchase), ``properties``,
``sessionId`` (the id rule). An optional field that is null counts as absent.

Decisions:

- Unknown top-level fields are ignored, not rejected: left out of the item (never stored) and
  their names returned for the handler to log. A rejected record holds its shard back until
  Lambda's retries give up on it, so a producer adding a field must not stop the pipeline.
  The cost: a misspelt optional field (``sessionid``) is dropped, visibly only in the log.
- The first problem found is the reason, fields checked in this order: eventId, userId,
  eventType, timestamp, value, properties, sessionId. One field, the value seen, what is
  allowed. A key twice in one JSON object (at any depth) is rejected: parsers disagree on
  which one wins.
- ``value`` is a JSON number or a string holding one (``12.30``, ``"12.30"``, ``1.5E2``),
  parsed as a Decimal (never a float) and stored exactly as written. Refused: negative, more
  than 38 significant digits or outside DynamoDB's range (1E-130..9.99E+125), and zero for a
  purchase (a purchase needs a value above 0). A negative zero loses its sign (``-0.0`` is ``0.0``).
- ``properties`` is a flat JSON object: at most :data:`MAX_PROPERTIES` keys of 1..64
  characters, each value a string of at most 256 characters, a number DynamoDB can store
  (as for ``value``, sign allowed) or a boolean; no null, object or array. An empty object is
  the same as no properties (the item then has no ``properties`` attribute).
- ``timestamp`` is ``YYYY-MM-DDTHH:MM[:SS[.fraction]]`` then ``Z``, ``±HH:MM``, ``±HHMM`` or
  ``±HH`` (upper-case ``T`` and ``Z``; :mod:`sluice_common.timestamps`, the payment
  pipeline's parser too); it becomes UTC ``YYYY-MM-DDTHH:MM:SS.mmmZ``, the fraction cut (not
  rounded) to milliseconds. More than five minutes (``FUTURE_TOLERANCE``) after
  ``now`` is refused; there is no lower bound (a replay of an old record is still the event).
  :func:`prepare_record` judges it against the record's arrival in the stream, not the clock:
  a record is then valid or not whenever it is processed, and retries cannot change that.

Enrichment (:func:`enrich`) is a function of the record alone (no processing time), so a
replayed record gives an identical item:

- ``eventDate`` (``YYYY-MM-DD``) and ``hourOfDay`` (0..23) of the UTC timestamp;
- ``category``: :data:`CATEGORIES` by event type (engagement, conversion, account);
- ``insight``: the first rule that matches, in this order: ``high_value_purchase`` (a purchase
  of value >= :data:`HIGH_VALUE`), ``cart_activity`` (add_to_cart), ``new_user`` (signup),
  ``late_night_activity`` (hourOfDay 0..5, i.e. 00:00-05:59 UTC), else ``routine``;
- the source: ``shardId`` (of the record's ``eventID``, "shardId-000000000000:<sequence>"),
  ``sequenceNumber``, ``partitionKey``, ``arrivedAt`` (``approximateArrivalTimestamp`` as UTC
  ``YYYY-MM-DDTHH:MM:SS.mmmZ``).

Every rejection is :class:`~sluice_common.errors.InvalidStreamEvent`.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final, NotRequired, TypedDict

from sluice_common.errors import InvalidStreamEvent
from sluice_common.fields import identifier, required, strict_json, unknown_fields
from sluice_common.payments import describe, shown
from sluice_common.redact import mask_pans
from sluice_common.timestamps import EPOCH, parse_utc, utc_text

CATEGORIES: Final[Mapping[str, str]] = {  # eventType -> category
    "page_view": "engagement",
    "click": "engagement",
    "search": "engagement",
    "add_to_cart": "conversion",
    "purchase": "conversion",
    "signup": "account",
    "login": "account",
    "logout": "account",
}
EVENT_TYPES: Final = tuple(CATEGORIES)
INSIGHTS: Final = (
    "high_value_purchase",
    "cart_activity",
    "new_user",
    "late_night_activity",
    "routine",
)
REQUIRED_FIELDS: Final = ("eventId", "userId", "eventType", "timestamp")
OPTIONAL_FIELDS: Final = ("value", "properties", "sessionId")
KNOWN_FIELDS: Final = frozenset(REQUIRED_FIELDS + OPTIONAL_FIELDS)
HIGH_VALUE: Final = Decimal(100)  # a purchase of at least this is high_value_purchase
LATE_NIGHT_HOURS: Final = range(6)  # 00:00-05:59 UTC
MAX_PROPERTIES: Final = 20
MAX_PROPERTY_KEY_LENGTH: Final = 64
MAX_PROPERTY_VALUE_LENGTH: Final = 256
# What DynamoDB stores as a number: 38 significant digits, magnitude 1E-130 to 9.99...E+125.
MAX_NUMBER_DIGITS: Final = 38
NUMBER_EXPONENTS: Final = range(-130, 126)  # Decimal.adjusted() of a non-zero number

_NUMBER_TEXT: Final = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?", re.ASCII)
_SHARD_ID: Final = re.compile(r"shardId-[0-9]+", re.ASCII)

PropertyValue = str | int | Decimal | bool


@dataclass(frozen=True)
class Source:
    """Where a record came from: the Kinesis metadata Lambda delivers with it."""

    shard_id: str  # "shardId-000000000000"
    sequence_number: str
    partition_key: str
    arrived_at: datetime  # approximateArrivalTimestamp, UTC, whole milliseconds


@dataclass(frozen=True)
class StreamEvent:
    """A record's event, checked and normalized (field names as the contract spells them)."""

    event_id: str
    user_id: str
    event_type: str
    timestamp: datetime  # UTC, whole milliseconds
    value: Decimal | None = None
    properties: Mapping[str, PropertyValue] | None = None  # None when absent or empty
    session_id: str | None = None


@dataclass(frozen=True)
class Validation:
    event: StreamEvent
    ignored_fields: tuple[str, ...] = ()  # unknown field names (at most MAX_LOGGED_FIELDS)


class EnrichedEvent(TypedDict):
    """The StreamEventTable item as Python values (:func:`to_item` gives the DynamoDB form)."""

    eventId: str  # table key
    userId: str  # ByUserTime partition key
    eventType: str  # ByTypeTime partition key
    timestamp: str  # UTC "YYYY-MM-DDTHH:MM:SS.mmmZ": both indexes' sort key
    eventDate: str  # "YYYY-MM-DD"
    hourOfDay: int  # 0..23
    category: str  # engagement, conversion, account
    insight: str  # one of INSIGHTS
    shardId: str
    sequenceNumber: str
    partitionKey: str
    arrivedAt: str  # UTC "YYYY-MM-DDTHH:MM:SS.mmmZ"
    value: NotRequired[Decimal]
    properties: NotRequired[dict[str, PropertyValue]]
    sessionId: NotRequired[str]


@dataclass(frozen=True)
class PreparedRecord:
    """A record turned into its item, ready to write."""

    source: Source
    event: EnrichedEvent
    ignored_fields: tuple[str, ...] = ()

    @property
    def event_id(self) -> str:
        return self.event["eventId"]

    @property
    def item(self) -> dict[str, dict[str, Any]]:
        return to_item(self.event)


def prepare_record(record: Mapping[str, Any]) -> PreparedRecord:
    """A Kinesis record as Lambda delivers it (an element of the event's ``Records``) turned
    into its item; :class:`InvalidStreamEvent` saying why it cannot be.

    The timestamp's future bound is judged against the record's arrival in the stream.
    """
    source = read_source(record)
    event = decode_data(record["kinesis"].get("data"))
    validation = validate_event(event, now=source.arrived_at)
    return PreparedRecord(source, enrich(validation.event, source), validation.ignored_fields)


def read_source(record: Mapping[str, Any]) -> Source:
    """The source metadata of a Kinesis record (Lambda's envelope around the data)."""
    kinesis = record.get("kinesis") if isinstance(record, Mapping) else None
    if not isinstance(kinesis, Mapping):
        raise InvalidStreamEvent(
            f"record has no kinesis object, got {describe(kinesis)}: ProcessStream reads "
            "Kinesis records as Lambda delivers them"
        )
    sequence_number = kinesis.get("sequenceNumber")
    if not isinstance(sequence_number, str) or not sequence_number:
        raise InvalidStreamEvent(
            f"record's kinesis.sequenceNumber must be a non-empty string, got "
            f"{describe(sequence_number)}"
        )
    partition_key = kinesis.get("partitionKey")
    if not isinstance(partition_key, str):
        raise InvalidStreamEvent(
            f"record's kinesis.partitionKey must be a string, got {describe(partition_key)}"
        )
    event_id = record.get("eventID")
    shard_id = event_id.partition(":")[0] if isinstance(event_id, str) else ""
    if not _SHARD_ID.fullmatch(shard_id):
        raise InvalidStreamEvent(
            "record's eventID must be 'shardId-<digits>:<sequence number>', got "
            f"{describe(event_id)}"
        )
    return Source(shard_id, sequence_number, partition_key, _arrived_at(kinesis))


def _arrived_at(kinesis: Mapping[str, Any]) -> datetime:
    value = kinesis.get("approximateArrivalTimestamp")
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise InvalidStreamEvent(
            "record's kinesis.approximateArrivalTimestamp must be epoch seconds, got "
            f"{describe(value)}"
        )
    try:
        # Lambda sends e.g. 1793616117.5 (a float): round to whole milliseconds, exactly.
        millis = round(Decimal(str(value)) * 1000)
        return EPOCH + timedelta(milliseconds=millis)
    except (ValueError, ArithmeticError, OverflowError):
        raise InvalidStreamEvent(
            f"record's kinesis.approximateArrivalTimestamp {value} is not a time"
        ) from None


def decode_data(data: object) -> dict[str, Any]:
    """The event object in a record's ``data`` (base64 of UTF-8 JSON)."""
    if not isinstance(data, str):
        raise InvalidStreamEvent(
            f"record's kinesis.data must be a base64 string, got {describe(data)}"
        )
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidStreamEvent(
            f"data {shown(data)} is not base64 (Lambda delivers the record's bytes base64-encoded)"
        ) from None
    if not raw:
        raise InvalidStreamEvent("data is empty: the record holds no event")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidStreamEvent(
            f"data is not UTF-8 text: byte 0x{raw[exc.start]:02x} at offset {exc.start}; the "
            "producer must put the event as UTF-8 JSON"
        ) from None
    parsed = _json(text)
    if not isinstance(parsed, dict):
        raise InvalidStreamEvent(f"data must be a JSON object (the event), got {describe(parsed)}")
    return parsed


def _json(text: str) -> Any:
    if not text.strip():
        raise InvalidStreamEvent("data is blank: the record holds no event")
    return strict_json(text, "data", InvalidStreamEvent, parse_float=Decimal, quote_start=True)


def validate_event(event: Mapping[str, Any], *, now: datetime) -> Validation:
    """The event ``event`` (a parsed JSON object), checked and normalized.

    ``now`` (aware) bounds ``timestamp``: :func:`prepare_record` passes the record's arrival.
    """
    event_id = identifier(event, "eventId", InvalidStreamEvent)
    user_id = identifier(event, "userId", InvalidStreamEvent)
    event_type = _event_type(required(event, "eventType", InvalidStreamEvent))
    timestamp = parse_timestamp(required(event, "timestamp", InvalidStreamEvent), now=now)
    value = _value(event.get("value"), event_type)
    properties = _properties(event.get("properties"))
    session_id = (
        identifier(event, "sessionId", InvalidStreamEvent)
        if event.get("sessionId") is not None
        else None
    )
    return Validation(
        StreamEvent(event_id, user_id, event_type, timestamp, value, properties, session_id),
        unknown_fields(event, KNOWN_FIELDS),
    )


def _event_type(value: object) -> str:
    if isinstance(value, str) and value in CATEGORIES:
        return value
    if not isinstance(value, str):
        raise InvalidStreamEvent(
            f"eventType must be a string, one of {', '.join(EVENT_TYPES)}; got {describe(value)}"
        )
    if value.lower() in CATEGORIES:
        raise InvalidStreamEvent(f"eventType {shown(value)} must be lower case: '{value.lower()}'")
    raise InvalidStreamEvent(f"eventType {shown(value)} is not one of {', '.join(EVENT_TYPES)}")


def parse_timestamp(value: object, *, now: datetime) -> datetime:
    """``value`` (ISO 8601 with a zone) as a UTC datetime cut to whole milliseconds."""
    return parse_utc(
        value,
        "timestamp",
        InvalidStreamEvent,
        now=now,
        ahead="after {now}, when the record reached the stream: is the producer's clock ahead?",
        example_day="2026-11-02",
    )


def _number(value: object) -> Decimal | None:
    """``value`` as a Decimal if it is a JSON number or a string holding one, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, str) and _NUMBER_TEXT.fullmatch(value):
        return Decimal(value)
    return None


def _storable(number: Decimal, field: str, seen: str) -> Decimal:
    """``number`` if DynamoDB stores it exactly; -0 becomes 0."""
    if number.is_zero():
        return number.copy_abs()
    significant = "".join(str(digit) for digit in number.as_tuple().digits).strip("0")
    if len(significant) > MAX_NUMBER_DIGITS:
        raise InvalidStreamEvent(
            f"{field} {seen} has {len(significant)} significant digits; DynamoDB stores at most "
            f"{MAX_NUMBER_DIGITS}"
        )
    if number.adjusted() not in NUMBER_EXPONENTS:
        raise InvalidStreamEvent(
            f"{field} {seen} is outside the numbers DynamoDB stores (magnitude 1E-130 to 9.99E+125)"
        )
    return number


def _value(value: object, event_type: str) -> Decimal | None:
    if value is None:
        if event_type == "purchase":
            raise InvalidStreamEvent(
                "value is missing; a purchase needs its value, a decimal above 0 such as '49.90'"
            )
        return None
    number = _number(value)
    seen = shown(value) if isinstance(value, str) else mask_pans(str(value))
    if number is None:
        raise InvalidStreamEvent(
            f"value must be a decimal number such as 49.90 or '49.90', got {describe(value)}"
        )
    number = _storable(number, "value", seen)
    if number < 0:
        raise InvalidStreamEvent(f"value {seen} is negative; a value is 0 or more")
    if number == 0 and event_type == "purchase":
        raise InvalidStreamEvent(f"value {seen} is zero; a purchase needs a value above 0")
    return number


def _properties(value: object) -> dict[str, PropertyValue] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidStreamEvent(
            "properties must be a flat JSON object of names to strings, numbers or booleans, "
            f"got {describe(value)}"
        )
    if len(value) > MAX_PROPERTIES:
        raise InvalidStreamEvent(
            f"properties has {len(value)} keys; at most {MAX_PROPERTIES} are allowed"
        )
    checked: dict[str, PropertyValue] = {}
    for key, element in value.items():
        if not key:
            raise InvalidStreamEvent("properties has an empty key")
        if len(key) > MAX_PROPERTY_KEY_LENGTH:
            raise InvalidStreamEvent(
                f"properties key {shown(key)} has {len(key)} characters; at most "
                f"{MAX_PROPERTY_KEY_LENGTH} are allowed"
            )
        field = f"properties.{key}"
        if isinstance(element, bool):
            checked[key] = element
        elif isinstance(element, str):
            if len(element) > MAX_PROPERTY_VALUE_LENGTH:
                raise InvalidStreamEvent(
                    f"{field} has {len(element)} characters; at most "
                    f"{MAX_PROPERTY_VALUE_LENGTH} are allowed"
                )
            checked[key] = element
        elif isinstance(element, int | Decimal):
            number = _storable(Decimal(element), field, mask_pans(str(element)))
            checked[key] = element if isinstance(element, int) else number
        elif element is None:
            raise InvalidStreamEvent(f"{field} is null; leave the key out instead")
        else:
            raise InvalidStreamEvent(
                f"{field} must be a string, number or boolean, got {describe(element)} "
                "(properties are flat)"
            )
    return checked or None


def insight_of(event_type: str, value: Decimal | None, hour_of_day: int) -> str:
    """The first :data:`INSIGHTS` rule the event matches (see the module docstring)."""
    if event_type == "purchase" and value is not None and value >= HIGH_VALUE:
        return "high_value_purchase"
    if event_type == "add_to_cart":
        return "cart_activity"
    if event_type == "signup":
        return "new_user"
    if hour_of_day in LATE_NIGHT_HOURS:
        return "late_night_activity"
    return "routine"


def enrich(event: StreamEvent, source: Source) -> EnrichedEvent:
    """The event's item: its fields, what follows from them, and where the record came from."""
    timestamp = utc_text(event.timestamp)
    enriched: EnrichedEvent = {
        "eventId": event.event_id,
        "userId": event.user_id,
        "eventType": event.event_type,
        "timestamp": timestamp,
        "eventDate": timestamp[:10],
        "hourOfDay": event.timestamp.hour,
        "category": CATEGORIES[event.event_type],
        "insight": insight_of(event.event_type, event.value, event.timestamp.hour),
        "shardId": source.shard_id,
        "sequenceNumber": source.sequence_number,
        "partitionKey": source.partition_key,
        "arrivedAt": utc_text(source.arrived_at),
    }
    if event.value is not None:
        enriched["value"] = event.value
    if event.properties:
        enriched["properties"] = dict(event.properties)
    if event.session_id is not None:
        enriched["sessionId"] = event.session_id
    return enriched


def to_item(event: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """An :class:`EnrichedEvent` as a DynamoDB item (``S``, ``N`` holding the exact number,
    ``BOOL``, and ``M`` for properties)."""
    return {name: _attribute(name, value) for name, value in event.items()}


def _attribute(name: str, value: object) -> dict[str, Any]:
    if isinstance(value, bool):  # before int: bool is an int
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int | Decimal):
        return {"N": str(value)}
    if isinstance(value, Mapping):
        return {"M": {key: _attribute(f"{name}.{key}", element) for key, element in value.items()}}
    raise TypeError(f"{name} is {type(value).__name__}: a stream event item holds no such value")
