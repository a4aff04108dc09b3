"""sluice-redrive: list the dead-letter queue with reasons, and redrive it.

    sluice-redrive --stack sluice list
    sluice-redrive --stack sluice redrive --dry-run --error ObjectNotFound
    sluice-redrive --stack sluice redrive --rate 20            # every message: SQS move task
    sluice-redrive --stack sluice redrive --error RowsFailed   # filtered: copy path
    sluice-redrive --stack sluice status
    sluice-redrive --stack sluice --pipeline payments list   # PaymentDeadLetterQueue

Queues come from the stack's outputs (ObjectDeadLetterQueueUrl/Arn, ObjectQueueUrl/Arn; with
--pipeline payments PaymentDeadLetterQueueUrl, PaymentQueueUrl) or from --dlq-url/--source-url.
Redriving everything uses SQS StartMessageMoveTask; a filter, --dry-run, --copy, or an endpoint
without that API (the local emulator) uses the receive/send/delete path.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sluice_local.terminal import printable
from sluice_ops.redrive import (
    DeadLetter,
    copy_redrive,
    list_dead_letters,
    move_task_status,
    start_move_task,
)


def _queues(args: argparse.Namespace, cloudformation: Any, sqs: Any) -> dict[str, str]:
    def arn(url: str) -> str:
        return str(
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
        )

    if args.dlq_url and args.source_url:
        arns = {
            url: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            for url in (args.dlq_url, args.source_url)
        }
        return {
            "dlq_url": args.dlq_url,
            "dlq_arn": arns[args.dlq_url],
            "source_url": args.source_url,
            "source_arn": arns[args.source_url],
        }
    if not args.stack:
        raise SystemExit("give --stack, or both --dlq-url and --source-url")
    [stack] = cloudformation.describe_stacks(StackName=args.stack)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    if getattr(args, "pipeline", "objects") == "payments":
        if "PaymentDeadLetterQueueUrl" not in outputs:
            raise SystemExit(f"stack {args.stack} has no payment pipeline (EnablePaymentPipeline)")
        dlq, source = outputs["PaymentDeadLetterQueueUrl"], outputs["PaymentQueueUrl"]
        return {
            "dlq_url": dlq,
            "dlq_arn": arn(dlq),
            "source_url": source,
            "source_arn": arn(source),
        }
    return {
        "dlq_url": outputs["ObjectDeadLetterQueueUrl"],
        "dlq_arn": outputs["ObjectDeadLetterQueueArn"],
        "source_url": outputs["ObjectQueueUrl"],
        "source_arn": outputs["ObjectQueueArn"],
    }


def _matcher(args: argparse.Namespace) -> Any:
    errors, text = set(args.error or []), args.contains

    def match(letter: DeadLetter) -> bool:
        if errors and letter.error not in errors:
            return False
        return not text or text in letter.body or text in letter.reason

    return match


ALIAS_NOTE = (
    "sluice-redrive is an alias of `sluice redrive` (which takes --stack-name, --profile and "
    "AWS_ENDPOINT_URL), kept for one release."
)


def add_commands(parser: argparse.ArgumentParser) -> None:
    """The redrive options and subcommands, shared by sluice-redrive and `sluice redrive`."""
    parser.add_argument(
        "--pipeline",
        choices=["objects", "payments"],
        default="objects",
        help="which pipeline's dead-letter queue (with the stack; default objects)",
    )
    parser.add_argument("--dlq-url", help="dead-letter queue URL (instead of the stack's)")
    parser.add_argument("--source-url", help="queue to redrive into (instead of the stack's)")
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="dead letters with their reasons")
    listing.add_argument("--limit", type=int, default=100)
    redrive = commands.add_parser("redrive", help="send dead letters back to be processed")
    redrive.add_argument("--error", action="append", help="only this sluice-error (repeatable)")
    redrive.add_argument("--contains", help="only messages whose body or reason contains this")
    redrive.add_argument("--rate", type=int, default=10, help="messages per second (default 10)")
    redrive.add_argument("--limit", type=int, help="look at no more than this many")
    redrive.add_argument("--dry-run", action="store_true", help="report, change nothing")
    redrive.add_argument("--copy", action="store_true", help="receive/send/delete, not a task")
    commands.add_parser("status", help="the latest SQS move task on the dead-letter queue")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sluice-redrive", description=__doc__.split("\n")[0], epilog=ALIAS_NOTE
    )
    parser.add_argument("--stack", help="CloudFormation stack name of the Sluice deployment")
    parser.add_argument("--region")
    parser.add_argument("--endpoint-url", help="e.g. a local emulator")
    add_commands(parser)
    return parser


def run(args: argparse.Namespace, sqs: Any, cloudformation: Any) -> list[str]:
    queues = _queues(args, cloudformation, sqs)
    if args.command == "list":
        letters = list_dead_letters(sqs, queues["dlq_url"], args.limit)
        return [f"{len(letters)} dead letter(s) in {queues['dlq_url']}"] + [
            # Reasons quote S3 keys, which uploaders choose; attributes, whoever sent them.
            f"  {d.message_id}  {printable(d.error)}: {printable(d.reason)}"
            for d in letters
        ]
    if args.command == "status":
        status = move_task_status(sqs, queues["dlq_arn"])
        return [str(status) if status else "no move task on record"]
    lines: list[str] = []
    filtered = bool(args.error or args.contains or args.limit)
    if not (filtered or args.dry_run or args.copy):
        try:
            handle = start_move_task(sqs, queues["dlq_arn"], queues["source_arn"], args.rate)
        except NotImplementedError:  # the in-process emulator (moto) has no move tasks
            lines.append("this endpoint has no StartMessageMoveTask: receive/send/delete instead")
        except Exception as exc:
            if _error_code(exc) not in UNSUPPORTED:
                raise
            lines.append(f"StartMessageMoveTask refused ({_error_code(exc)}): copying instead")
        else:
            return [f"move task started: {handle} (follow it with: sluice-redrive status)"]
    report = copy_redrive(
        sqs,
        queues["dlq_url"],
        queues["source_url"],
        match=_matcher(args),
        per_second=args.rate,
        dry_run=args.dry_run,
        limit=args.limit,
    )
    return lines + report.lines()


UNSUPPORTED = {"UnsupportedOperation", "InvalidAction", "NotImplemented", "501"}


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def main(argv: list[str] | None = None) -> None:
    import boto3

    args = _parser().parse_args(argv)
    session = boto3.Session(region_name=args.region)
    sqs = session.client("sqs", endpoint_url=args.endpoint_url)
    cloudformation = session.client("cloudformation", endpoint_url=args.endpoint_url)
    for line in run(args, sqs, cloudformation):
        print(line)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
