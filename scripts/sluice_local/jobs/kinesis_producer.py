"""Events for the stream pipeline's EventStream: deterministic sample events, a producer that
paces PutRecords, puts again what it refuses and never drops a record, and the dead-lettered
ranges (Lambda's on-failure records) read back from the stream. Shared by `sluice-local stream`
(sluice_local.jobs.stream_job) and the operator's `sluice-stream` (sluice_ops.stream), which
imports it from here: the local runtime never imports the operator tools."""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

EVENT_TYPES = (
    "page_view",
    "click",
    "search",
    "add_to_cart",
    "purchase",
    "signup",
    "login",
    "logout",
)
PUT_RECORDS_MAX = 500  # records per PutRecords call (and 5 MB)


@dataclass(frozen=True)
class StreamEvent:
    partition_key: str
    data: bytes
    event_id: str | None  # None for a malformed record


def sample_events(count: int, *, malformed: int = 0, seed: int = 7) -> list[StreamEvent]:
    """``count`` events of a few hundred users (``malformed`` of them broken), deterministic."""
    rng = random.Random(seed)  # noqa: S311 - sample data, reproducible by design
    start = datetime(2026, 11, 1, tzinfo=UTC)
    events: list[StreamEvent] = []
    bad_at = set(rng.sample(range(count), min(malformed, count)))
    for n in range(count):
        user = f"u-{rng.randrange(1, 400):04d}"
        kind = rng.choice(EVENT_TYPES)
        event: dict[str, Any] = {
            "eventId": f"evt-{seed}-{n:08d}",
            "userId": user,
            "eventType": kind,
            "timestamp": (start + timedelta(seconds=37 * n)).isoformat().replace("+00:00", "Z"),
            "sessionId": f"s-{user}-{n // 20}",
            "properties": {
                "page": f"/p/{rng.randrange(50)}",
                "referrer": rng.choice(["ad", "mail", "direct"]),
            },
        }
        if kind == "purchase":
            event["value"] = f"{rng.uniform(5, 250):.2f}"
        if n in bad_at:
            broken = (b"{not json", json.dumps({**event, "eventType": "teleport"}).encode())[n % 2]
            events.append(StreamEvent(user, broken, None))
        else:
            events.append(StreamEvent(user, json.dumps(event).encode(), event["eventId"]))
    return events


class Progress:
    """A tqdm progress bar on stderr when it is a terminal (and tqdm is installed), else quiet."""

    def __init__(self, total: int, enabled: bool) -> None:
        self._bar: Any = None
        if enabled and sys.stderr.isatty():
            try:
                from tqdm import tqdm
            except ImportError:
                return
            self._bar = tqdm(total=total, unit="event", file=sys.stderr)

    def update(self, n: int) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


@dataclass
class ProduceResult:
    sent: int = 0
    calls: int = 0
    retried_records: int = 0
    seconds: float = 0.0


def produce(
    kinesis: Any,
    stream_name: str,
    events: list[StreamEvent],
    *,
    rate: float | None = None,
    progress: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    max_attempts: int = 8,
) -> ProduceResult:
    """PutRecords in chunks of 500, at ``rate`` events/s (None: burst, as fast as accepted).

    Records PutRecords reports as failed (throttled shards) are put again with backoff; a record
    still refused after ``max_attempts`` raises, so nothing is dropped silently."""
    result = ProduceResult()
    bar = Progress(len(events), progress)
    started = time.monotonic()
    chunk = PUT_RECORDS_MAX if rate is None else max(1, min(PUT_RECORDS_MAX, int(rate)))
    try:
        for offset in range(0, len(events), chunk):
            batch = events[offset : offset + chunk]
            _put_all(kinesis, stream_name, batch, result, sleep, max_attempts)
            result.sent += len(batch)
            bar.update(len(batch))
            if rate:
                ahead = result.sent / rate - (time.monotonic() - started)
                if ahead > 0:
                    sleep(ahead)
    finally:
        bar.close()
    result.seconds = time.monotonic() - started
    return result


def _put_all(
    kinesis: Any,
    stream_name: str,
    batch: list[StreamEvent],
    result: ProduceResult,
    sleep: Callable[[float], None],
    max_attempts: int,
) -> None:
    todo = batch
    for attempt in range(max_attempts):
        response = kinesis.put_records(
            StreamName=stream_name,
            Records=[{"Data": e.data, "PartitionKey": e.partition_key} for e in todo],
        )
        result.calls += 1
        if not response.get("FailedRecordCount"):
            return
        todo = [e for e, r in zip(todo, response["Records"], strict=True) if "ErrorCode" in r]
        result.retried_records += len(todo)
        sleep(min(2.0, 0.05 * 2**attempt) * random.random())  # noqa: S311 - jitter
    raise RuntimeError(
        f"{len(todo)} records still refused after {max_attempts} PutRecords attempts"
    )


@dataclass(frozen=True)
class Range:
    receipt_handle: str
    shard_id: str
    start: str
    end: str
    size: int
    condition: str


def dead_letter_ranges(sqs: Any, dlq_url: str, limit: int = 1000) -> Iterator[Range]:
    seen = 0
    while seen < limit:
        # A long poll: a short one samples a few SQS servers and can answer nothing from a
        # queue that holds ranges, and replay would stop early.
        messages = sqs.receive_message(
            QueueUrl=dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=120, WaitTimeSeconds=1
        ).get("Messages", [])
        if not messages:
            return
        for message in messages:
            seen += 1
            body = json.loads(message["Body"])
            info = body["KinesisBatchInfo"]
            yield Range(
                receipt_handle=message["ReceiptHandle"],
                shard_id=info["shardId"],
                start=info["startSequenceNumber"],
                end=info["endSequenceNumber"],
                size=int(info["batchSize"]),
                condition=body.get("requestContext", {}).get("condition", "?"),
            )


def read_range(kinesis: Any, stream_name: str, item: Range) -> list[dict[str, Any]]:
    """The records of a dead-letter range, read back from the stream."""
    iterator = kinesis.get_shard_iterator(
        StreamName=stream_name,
        ShardId=item.shard_id,
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        StartingSequenceNumber=item.start,
    )["ShardIterator"]
    records: list[dict[str, Any]] = []
    end = int(item.end)
    while iterator:
        got = kinesis.get_records(ShardIterator=iterator, Limit=1000)
        for record in got["Records"]:
            if int(record["SequenceNumber"]) > end:
                return records
            records.append(record)
        if not got["Records"]:
            return records
        iterator = got.get("NextShardIterator")
    return records
