"""sluice-stream: put events on the stream pipeline's EventStream, and replay dead-lettered ranges.

    sluice-stream --stack sluice produce --events 10000 --rate 500         # steady 500 events/s
    sluice-stream --stack sluice produce --events 10000 --burst            # as fast as it can
    sluice-stream --stack sluice produce --events 100 --malformed 5        # 5 bad ones mixed in
    sluice-stream --stack sluice replay --dry-run                          # list dead-letter ranges
    sluice-stream --stack sluice replay                                    # re-put, then delete

The stream comes from the stack's outputs (EventStreamName, StreamDeadLetterQueueUrl) or from
--stream-name/--dlq-url; --endpoint-url points at another endpoint. Locally, `sluice-local stream`
runs the same producer against the pipeline in the embedded emulator.

Replaying reads each range of an on-failure record (KinesisBatchInfo: shard, first and last
sequence number) from the stream, puts those records again (same partition key and data: the
function's writes are keyed on eventId, so a record that was written before is overwritten with
itself) and deletes the dead-letter message; ranges older than the stream's retention are gone,
and the tool says so.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sluice_local.terminal import printable

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


def replay(
    kinesis: Any, sqs: Any, stream_name: str, dlq_url: str, *, dry_run: bool = False
) -> list[str]:
    lines: list[str] = []
    kept: list[str] = []  # receipt handles of messages left in place: visible again at the end
    for item in dead_letter_ranges(sqs, dlq_url):
        records = read_range(kinesis, stream_name, item)
        # Whoever may send to the dead-letter queue writes the record: its text is printed escaped.
        what = printable(f"{item.shard_id} {item.start}..{item.end}") + (
            f" ({item.size} records, {printable(item.condition)})"
        )
        if len(records) < item.size:
            lines.append(
                f"{what}: only {len(records)} still in the stream (retention); left in place"
            )
            kept.append(item.receipt_handle)
            continue
        if dry_run:
            lines.append(f"{what}: would replay")
            kept.append(item.receipt_handle)
            continue
        events = [StreamEvent(r["PartitionKey"], r["Data"], None) for r in records]
        produce(kinesis, stream_name, events)
        sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=item.receipt_handle)
        lines.append(f"{what}: replayed")
    for handle in kept:
        sqs.change_message_visibility(QueueUrl=dlq_url, ReceiptHandle=handle, VisibilityTimeout=0)
    if not lines:
        lines.append(f"no dead-letter ranges in {dlq_url}")
    return lines


def _targets(args: argparse.Namespace, cloudformation: Any) -> tuple[str, str | None]:
    if args.stream_name:
        return args.stream_name, args.dlq_url
    if not args.stack:
        raise SystemExit("give --stack, or --stream-name (and --dlq-url to replay)")
    [stack] = cloudformation.describe_stacks(StackName=args.stack)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    if "EventStreamName" not in outputs:
        raise SystemExit(f"stack {args.stack} has no stream pipeline (EnableStreamPipeline)")
    return outputs["EventStreamName"], outputs["StreamDeadLetterQueueUrl"]


ALIAS_NOTE = (
    "sluice-stream is an alias of `sluice stream` (which takes --stack-name, --profile and "
    "AWS_ENDPOINT_URL), kept for one release."
)


def add_commands(parser: argparse.ArgumentParser) -> None:
    """The stream options and subcommands, shared by sluice-stream and `sluice stream`."""
    parser.add_argument("--stream-name", help="the stream (instead of the stack's)")
    parser.add_argument("--dlq-url", help="the stream's dead-letter queue (instead of the stack's)")
    commands = parser.add_subparsers(dest="command", required=True)
    put = commands.add_parser("produce", help="put sample events on the stream")
    put.add_argument("--events", type=int, default=1000)
    put.add_argument("--malformed", type=int, default=0, help="how many of them are broken")
    put.add_argument("--rate", type=float, default=100.0, help="events per second")
    put.add_argument("--burst", action="store_true", help="ignore --rate: as fast as accepted")
    put.add_argument("--seed", type=int, default=int(time.time()))
    again = commands.add_parser("replay", help="put dead-lettered ranges on the stream again")
    again.add_argument("--dry-run", action="store_true")


def run(args: argparse.Namespace, client: Callable[[str], Any]) -> int:
    """``client(service)`` makes a boto3 client for the deployment."""
    stream_name, dlq_url = _targets(args, client("cloudformation") if args.stack else None)
    if args.command == "produce":
        events = sample_events(args.events, malformed=args.malformed, seed=args.seed)
        result = produce(
            client("kinesis"),
            stream_name,
            events,
            rate=None if args.burst else args.rate,
            progress=True,
        )
        print(
            f"put {result.sent} events on {stream_name} in {result.seconds:.1f} s "
            f"({result.sent / max(result.seconds, 1e-9):.0f}/s, {result.calls} PutRecords calls, "
            f"{result.retried_records} records retried)"
        )
        return 0
    if dlq_url is None:
        raise SystemExit("replay needs --dlq-url (or --stack)")
    for line in replay(
        client("kinesis"), client("sqs"), stream_name, dlq_url, dry_run=args.dry_run
    ):
        print(line)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sluice-stream", description=__doc__, epilog=ALIAS_NOTE)
    parser.add_argument("--stack", help="CloudFormation stack name of the Sluice deployment")
    parser.add_argument("--region")
    parser.add_argument("--endpoint-url")
    add_commands(parser)
    args = parser.parse_args(argv)

    import boto3

    session: Any = boto3.session.Session(region_name=args.region)
    return run(args, lambda name: session.client(name, endpoint_url=args.endpoint_url))


if __name__ == "__main__":
    sys.exit(main())
