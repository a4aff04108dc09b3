"""sluice: operate a deployed Sluice stack, on AWS or against `sluice-local up`.

Every subcommand finds its resources through the stack's CloudFormation outputs
(``--stack-name``) and takes ``--region``, ``--profile`` and ``--endpoint-url`` (or
``AWS_ENDPOINT_URL``) as the AWS CLI does. Bad input (an unknown stack, a missing output, no
credentials, an unreachable endpoint, a count of 0) ends with ``sluice <subcommand>: error: ...``
and exit status 2; a refused AWS call with exit status 1.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Callable
from typing import Any

from sluice_ops import cli as redrive_cli
from sluice_ops import dashboard, doctor, monitor, perf, simulate, stream
from sluice_ops.context import SluiceCliError, StackContext, add_aws_options, resolve

EPILOG = """examples:
  sluice doctor --config-env default               # before a deploy: what it needs
  sluice simulate --objects 200 --rows 50          # upload a load, prints its run id
  sluice monitor                                   # watch it drain
  sluice perf --objects 300 --out perf-report      # measure: report.md, samples.csv, PNGs
  sluice redrive list                              # dead letters and their reasons
  sluice simulate --cleanup RUN_ID                 # delete a run's objects

  export AWS_ENDPOINT_URL=http://127.0.0.1:4566    # `sluice-local up`'s default Endpoint
  sluice monitor --once --json

Run `sluice <subcommand> --help` for each one's options and examples.
"""

REDRIVE_EPILOG = """examples:
  sluice redrive list                                   # id, error, reason
  sluice redrive redrive --dry-run --error ObjectNotFound
  sluice redrive redrive --error RowsFailed --rate 5    # filtered: copy path
  sluice redrive redrive --rate 20                      # everything: SQS move task
  sluice redrive status                                 # the move task's progress
  sluice redrive --pipeline payments list               # PaymentDeadLetterQueue

Redriving everything uses SQS StartMessageMoveTask; a filter, --dry-run, --copy, or an endpoint
without that API (the local emulator) uses receive/send/delete.
"""

DASHBOARD_EPILOG = """examples:
  sluice dashboard --output sluice-dashboard.json
  curl -X POST "$DT_URL/api/config/v1/dashboards" -H "Authorization: Api-Token $DT_TOKEN" \\
       -H "Content-Type: application/json; charset=utf-8" --data @sluice-dashboard.json
"""

STREAM_EPILOG = """examples:
  sluice stream produce --events 5000 --rate 500 --malformed 10
  sluice stream replay --dry-run                 # dead-lettered ranges, read back
  sluice stream replay

Needs a stack deployed with EnableStreamPipeline=true (outputs EventStreamName,
StreamDeadLetterQueueUrl).
"""


# Each handler's docstring is its subcommand's help (the first line) and description (the rest).


def _run_simulate(args: argparse.Namespace) -> int:
    """upload many CSV objects in parallel (a load), or delete a run's objects

    Upload --objects CSV objects in parallel under <ObjectKeyPrefix>sluice-simulate/<run-id>/,
    with shares of odd keys, broken objects and priority objects; print the run id.
    """
    if not args.cleanup:
        simulate.plan_from_args(args)  # bad numbers fail before any AWS call
    return simulate.run(args, resolve(args))


def _run_monitor(args: argparse.Namespace) -> int:
    """a live view of queues, dead letters, lease, drains, ProcessObject, rows/s, alarms

    Queue depth and oldest age, dead letters by reason, the drain lease, drain executions,
    ProcessObject concurrency/throttles/errors, rows/s, downstream latency and failure rate,
    alarms in ALARM; refreshed every --interval seconds.
    """
    monitor.check_args(args)
    return monitor.run(args, resolve(args))


def _run_redrive(args: argparse.Namespace) -> int:
    """list the dead-letter queue with reasons, and redrive it

    List dead letters with their reasons (sluice-error, sluice-reason) and send them back to
    ObjectQueue (or PaymentQueue) once the cause is fixed.
    """
    ctx = resolve(args)
    if not (args.dlq_url and args.source_url):
        _require(ctx, args.pipeline)
    args.stack = ctx.stack_name
    for line in redrive_cli.run(args, ctx.client("sqs"), ctx.client("cloudformation")):
        print(line)
    return 0


def _require(ctx: StackContext, pipeline: str) -> None:
    if pipeline == "payments":
        if "PaymentDeadLetterQueueUrl" not in ctx.outputs:
            raise SluiceCliError(
                f"stack {ctx.stack_name} has no payment pipeline (deploy it with "
                "EnablePaymentPipeline=true): no output PaymentDeadLetterQueueUrl"
            )
        ctx.output("PaymentQueueUrl")
        return
    for output in (
        "ObjectDeadLetterQueueUrl",
        "ObjectDeadLetterQueueArn",
        "ObjectQueueUrl",
        "ObjectQueueArn",
    ):
        ctx.output(output)


def _run_dashboard(args: argparse.Namespace) -> int:
    """write a Dynatrace dashboard (JSON) for the stack"""  # described by dashboard.py's docstring
    ctx = resolve(args)
    dashboard.emit(args, dashboard.run(args, ctx.client("cloudformation")))
    return 0


def _run_stream(args: argparse.Namespace) -> int:
    """put sample events on the stream pipeline, or replay its dead-lettered ranges

    Produce sample events on EventStream, or put dead-lettered ranges on it again.
    """
    ctx = resolve(args)
    if not args.stream_name and "EventStreamName" not in ctx.outputs:
        raise SluiceCliError(
            f"stack {ctx.stack_name} has no stream pipeline (deploy it with "
            "EnableStreamPipeline=true): no output EventStreamName"
        )
    args.stack = None if args.stream_name else ctx.stack_name
    return stream.run(args, ctx.client)


def _run_doctor(args: argparse.Namespace) -> int:
    """check what a deploy or a run needs: concurrency, bucket, downstream, secrets, quotas

    Check a deployed stack (--stack-name) or, before a deploy, a parameter set
    (--parameter-overrides, --config-env): the account's Lambda concurrency against the
    reservations, an existing bucket's EventBridge notifications and key, the downstream (DNS, TLS
    handshake), each secret, Step Functions and Pipes quotas, the template's parameter
    constraints and Rules. Each check prints OK or what to do.
    """
    return doctor.run(args)


Handler = Callable[[argparse.Namespace], int]


def _subparser(
    commands: Any, name: str, handler: Handler, epilog: str, description: str | None = None
) -> argparse.ArgumentParser:
    """The subcommand ``name`` run by ``handler``, its help and description from the handler's
    docstring (``description`` instead of the docstring's, if given)."""
    help, _, details = (handler.__doc__ or "").partition("\n")
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=help,
        description=textwrap.fill(
            " ".join((details if description is None else description).split()), 100
        ),
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_aws_options(parser)
    parser.set_defaults(handler=handler)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sluice",
        description=(__doc__ or "").split("\n\n")[0].replace("\n", " "),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="subcommand", metavar="<subcommand>", required=True)
    simulate.add_arguments(_subparser(commands, "simulate", _run_simulate, simulate.EPILOG))
    monitor.add_arguments(_subparser(commands, "monitor", _run_monitor, monitor.EPILOG))
    perf.add_parser(commands).set_defaults(handler=perf.run)  # its own AWS options
    redrive_cli.add_commands(_subparser(commands, "redrive", _run_redrive, REDRIVE_EPILOG))
    dashboard_words = (dashboard.__doc__ or "").split("\n")[0].split(": ", 1)[-1]
    dash = _subparser(commands, "dashboard", _run_dashboard, DASHBOARD_EPILOG, dashboard_words)
    dashboard.add_arguments(dash)
    stream.add_commands(_subparser(commands, "stream", _run_stream, STREAM_EPILOG))
    doctor.add_arguments(_subparser(commands, "doctor", _run_doctor, doctor.EPILOG))
    return parser


def _aws_error(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        error = response["Error"]
        operation = getattr(exc, "operation_name", "")
        return f"{operation} refused: {error.get('Code')}: {error.get('Message')}"
    return str(exc)


def main(argv: list[str] | None = None) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler

    def fail(message: str, status: int) -> int:
        print(f"sluice {args.subcommand}: error: {message}", file=sys.stderr)
        return status

    try:
        return int(handler(args) or 0)
    except SluiceCliError as exc:
        return fail(str(exc), 2)
    except (BotoCoreError, ClientError) as exc:
        return fail(_aws_error(exc), 1)
    except SystemExit as exc:  # the wrapped tools end with SystemExit("message") on bad input
        if isinstance(exc.code, str):
            return fail(exc.code, 2)
        raise
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
