"""The calls a run makes that AWS bills, counted from botocore's events: ProcessObject's
checkpoint writes and S3 reads, BatchWriteItem's item writes and PutRecords' payload units.

Register a meter once the pipeline has started: moto's mock_aws replaces boto3's default session
when it starts, and the functions create their clients at their first invocation, after that."""

from __future__ import annotations

import json
import math
import threading
from collections import Counter
from typing import Any

from .units import PUT_PAYLOAD_UNIT_BYTES, index_write_units, item_size

PROCESSOR = "ProcessObjectFunction"
PROCESSOR_THREAD = f"lambda:{PROCESSOR}:"  # the dispatcher runs each invocation on such a thread


def checkpoint_write_kind(expression: str) -> str:
    """Which of ProcessObject's checkpoint writes an UpdateExpression is."""
    if "createdAt = if_not_exists" in expression:
        return "take the lease"
    if "SET #rows" in expression:
        return "failed-row spill page"
    if "previousFailed" in expression:
        return "start a redrive pass"
    if "REMOVE" in expression and "leaseUntil" in expression.split("REMOVE", 1)[1]:
        return "save + release (invocation end)"
    return "save progress"


class CheckpointMeter:
    """ProcessObject's per-row and per-invocation calls, from botocore's events on boto3's
    default session (register it once the pipeline has started: mock_aws replaces the session,
    and the function creates its clients at its first invocation): UpdateItem on the checkpoint
    table by kind (failed conditional writes too: DynamoDB bills them), and S3 HeadObject and
    GetObject. Only calls made on a ProcessObject invocation's own thread count."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name
        self.writes: Counter[str] = Counter()
        self.failed_writes = 0
        self.s3: Counter[str] = Counter()
        self._lock = threading.Lock()

    def register(self, events: Any) -> None:
        events.register("before-parameter-build.dynamodb.UpdateItem", self._before_update)
        events.register("after-call.dynamodb.UpdateItem", self._after_update)
        events.register("after-call.s3.HeadObject", self._after_s3)
        events.register("after-call.s3.GetObject", self._after_s3)

    @staticmethod
    def _ours() -> bool:
        return threading.current_thread().name.startswith(PROCESSOR_THREAD)

    def _before_update(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if self._ours() and params.get("TableName") == self.table_name:
            context["sluice_checkpoint_write"] = checkpoint_write_kind(
                str(params.get("UpdateExpression", ""))
            )

    def _after_update(self, http_response: Any, context: dict[str, Any], **_: Any) -> None:
        kind = context.pop("sluice_checkpoint_write", None)
        if kind is None:
            return
        with self._lock:
            self.writes[kind] += 1
            if http_response.status_code >= 300:
                self.failed_writes += 1

    def _after_s3(self, model: Any, **_: Any) -> None:
        if self._ours():
            with self._lock:
                self.s3[model.name] += 1


class BatchWriteMeter:
    """What BatchWriteItem calls put into one table, from botocore's events: register it on a
    session's (or a client's) event emitter; clients created from that session afterwards report
    to it. Counts the calls sent and the items DynamoDB wrote (UnprocessedItems and refused
    calls left out), with the write request units each write costs in the table and its
    global secondary indexes."""

    def __init__(self, table_name: str, table: dict[str, Any]) -> None:
        self.table_name = table_name
        self.table = table  # the table resource's Properties (KeySchema, GlobalSecondaryIndexes)
        self.key_names = [k["AttributeName"] for k in table["KeySchema"]]
        self.calls = 0
        self.refused_calls = 0
        self.item_writes = 0
        self.table_units = 0
        self.index_units = 0
        # item key -> (size, table WRU, index WRU) of its last write
        self.last_write: dict[str, tuple[int, int, int]] = {}
        self._lock = threading.Lock()

    def register(self, events: Any) -> None:
        events.register("before-parameter-build.dynamodb.BatchWriteItem", self._before)
        events.register("after-call.dynamodb.BatchWriteItem", self._after)

    def _key(self, item: dict[str, Any]) -> str:
        return json.dumps([item.get(name) for name in self.key_names], sort_keys=True)

    def _before(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        requests = params.get("RequestItems", {}).get(self.table_name, [])
        if not requests:
            return
        context["sluice_put_items"] = [
            r["PutRequest"]["Item"] for r in requests if "PutRequest" in r
        ]
        with self._lock:
            self.calls += 1

    def _after(
        self, http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any
    ) -> None:
        items: list[dict[str, Any]] = context.pop("sluice_put_items", [])
        if not items:
            return
        if http_response.status_code >= 300:  # refused whole (throttled, 5xx): nothing written
            with self._lock:
                self.refused_calls += 1
            return
        left = parsed.get("UnprocessedItems", {}).get(self.table_name, [])
        left_keys = {self._key(r["PutRequest"]["Item"]) for r in left if "PutRequest" in r}
        with self._lock:
            for item in items:
                key = self._key(item)
                if key in left_keys:
                    continue
                size = item_size(item)
                units = math.ceil(size / 1024)
                index_units = index_write_units(item, self.table)
                self.item_writes += 1
                self.table_units += units
                self.index_units += index_units
                self.last_write[key] = (size, units, index_units)


class PutRecordsMeter:
    """The records PutRecords calls put on a stream (records it refused left out), from
    botocore's events on the client that sends them."""

    def __init__(self) -> None:
        self.calls = 0
        self.sizes: list[int] = []  # bytes of each record put: data + partition key
        self._lock = threading.Lock()

    def register(self, events: Any) -> None:
        events.register("before-parameter-build.kinesis.PutRecords", self._before)
        events.register("after-call.kinesis.PutRecords", self._after)

    @property
    def payload_units(self) -> int:
        return sum(math.ceil(size / PUT_PAYLOAD_UNIT_BYTES) for size in self.sizes)

    def _before(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        sizes = []
        for record in params.get("Records", []):
            data = record["Data"]
            data = data.encode() if isinstance(data, str) else data
            sizes.append(len(data) + len(str(record["PartitionKey"]).encode()))
        context["sluice_record_sizes"] = sizes
        with self._lock:
            self.calls += 1

    def _after(
        self, http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any
    ) -> None:
        sizes: list[int] = context.pop("sluice_record_sizes", [])
        if http_response.status_code >= 300:
            return
        results = parsed.get("Records", [])
        accepted = [
            size for size, result in zip(sizes, results, strict=False) if "ErrorCode" not in result
        ]
        with self._lock:
            self.sizes.extend(accepted)
