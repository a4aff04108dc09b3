"""How AWS counts the units it bills: payload chunks, DynamoDB item sizes and the write request
units an item costs in a table's global secondary indexes."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

CHUNK_BYTES = 64 * 1024  # SNS, SQS and Pipes bill one request per 64 KB chunk of payload
PUT_PAYLOAD_UNIT_BYTES = 25 * 1024  # Kinesis bills each record in 25 KB chunks
ITEM_OVERHEAD_BYTES = 100  # DynamoDB storage counts each item's data plus 100 bytes


def chunks(payload: str) -> int:
    """Requests SNS, SQS or Pipes bill for one payload."""
    return max(1, math.ceil(len(payload.encode()) / CHUNK_BYTES))


def _number_size(text: str) -> int:
    digits = Decimal(text).normalize().as_tuple().digits  # leading and trailing zeros trimmed
    return math.ceil(len(digits) / 2) + 1


def value_size(value: dict[str, Any]) -> int:
    """Bytes DynamoDB counts for one attribute value (its documented approximation)."""
    ((kind, data),) = value.items()
    if kind == "S":
        return len(data.encode())
    if kind == "N":
        return _number_size(data)
    if kind in ("B", "BS"):
        return len(data) if kind == "B" else sum(len(b) for b in data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in data)
    if kind == "NS":
        return sum(_number_size(n) for n in data)
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in data)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(v) for k, v in data.items())
    raise ValueError(f"unknown DynamoDB type {kind}")


def item_size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB bills it: attribute names plus values."""
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def index_write_units(item: dict[str, Any], table: dict[str, Any]) -> int:
    """WRU a new item costs in the table's global secondary indexes (none in an index whose
    keys the item lacks)."""
    table_keys = {k["AttributeName"] for k in table["KeySchema"]}
    units = 0
    for index in table.get("GlobalSecondaryIndexes", []):
        keys = {k["AttributeName"] for k in index["KeySchema"]}
        if not keys <= item.keys():
            continue
        projection = index["Projection"]
        names = (
            set(item)
            if projection["ProjectionType"] == "ALL"
            else table_keys | keys | set(projection.get("NonKeyAttributes", []))
        )
        units += math.ceil(item_size({n: v for n, v in item.items() if n in names}) / 1024)
    return units
