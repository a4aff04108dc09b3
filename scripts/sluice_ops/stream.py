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
import sys
import time
from collections.abc import Callable
from typing import Any

from sluice_local.jobs.kinesis_producer import (
    StreamEvent,
    dead_letter_ranges,
    produce,
    read_range,
    sample_events,
)
from sluice_local.terminal import printable


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
