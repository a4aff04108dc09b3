"""`sluice-local`: run Sluice from template.yaml in the embedded AWS emulator, no AWS account."""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from collections.abc import Callable
from typing import Any

from sluice_local.servers.downstream import Latency, parse_latency

LOG_DIR_HELP = "where function logs are written"
# CloudFormation: "A stack name can contain only alphanumeric characters (case-sensitive) and
# hyphens. It must start with an alphabetical character and can't be longer than 128 characters."
_STACK_NAME = re.compile(r"[A-Za-z][-A-Za-z0-9]{0,127}")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--template", default="template.yaml", help="SAM template to deploy")
    parser.add_argument(
        "--config-env",
        default="local",
        help="samconfig.toml environment whose deploy parameter_overrides apply (default: local)",
    )
    parser.add_argument(
        "--parameter-overrides",
        default="",
        help='extra overrides, as for sam deploy: "MaxConcurrency=3 StaggerSeconds=0"',
    )
    parser.add_argument(
        "--time-scale",
        type=_checked(_time_scale),
        default=0.05,
        help="run waits, retries and schedules this much of real time (default 0.05 = 20x faster)",
    )
    parser.add_argument(
        "--lenient",
        action="store_true",
        help="measure AWS's limits without enforcing them (a function runs past its Timeout and "
        "its result is kept; oversized payloads pass), to explore; off in make demo and tests",
    )
    parser.add_argument(
        "--report",
        default=None,
        help="where to write the run's report (default: .demo/report.json next to the template)",
    )


def _downstream(parser: argparse.ArgumentParser) -> None:
    """The local downstream API's latency, for the jobs that run one (demo, up)."""
    parser.add_argument(
        "--downstream-latency",
        type=_latency,
        default=_latency("0.002"),
        metavar="SECONDS|LOW-HIGH",
        help="downstream API latency: one value is real seconds per call, as slept (against real "
        "Lambda timeouts); a range LOW-HIGH is AWS seconds drawn per call (uniform, seeded) and "
        "slept times --time-scale (default 0.002)",
    )
    parser.add_argument(
        "--downstream-latency-time-scaled",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="make --downstream-latency follow --time-scale (or, with --no-..., not) whatever "
        "its form",
    )


# Each job's sizes, after the options every job takes: (flag, default, help), each an int.
SIZES: dict[str, tuple[tuple[str, int, str], ...]] = {
    "demo": (
        ("--objects", 50, "CSV objects to upload"),
        ("--rows", 100, "rows per object"),
        ("--failing", 2, "bad objects added (0-2)"),
    ),
    "payments": (
        ("--events", 200, "distinct events to publish"),
        ("--invalid", 10, "how many of them are invalid"),
        ("--duplicates", 10, "re-published valid events"),
    ),
    "stream": (
        ("--events", 1000, "events to produce"),
        ("--malformed", 10, "how many of them are broken"),
    ),
}


def _job(commands: Any, name: str, **parser: Any) -> argparse.ArgumentParser:
    """A job's command: the options every job takes (see _common), then its SIZES."""
    job: argparse.ArgumentParser = commands.add_parser(name, **parser)
    _common(job)
    for flag, default, text in SIZES.get(name, ()):
        job.add_argument(flag, type=int, default=default, help=text)
    return job


def _run_limits(
    parser: argparse.ArgumentParser,
    timeout: float,
    timeout_help: str,
    log_dir: str,
    log_dir_help: str,
) -> None:
    """How long the job may take, and where its functions' logs go."""
    parser.add_argument("--timeout", type=float, default=timeout, help=timeout_help)
    parser.add_argument("--log-dir", default=log_dir, help=log_dir_help)


def _checked(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type from a converter raising ValueError with a message fit to show."""

    def check(text: str) -> Any:
        try:
            return convert(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    check.__name__ = convert.__name__  # argparse names the type in some messages
    return check


def _bounded(
    text: str,
    convert: Callable[[str], Any],
    within: Callable[[Any], bool],
    not_a_number: str,
    out_of_range: str,
) -> Any:
    """A number argument: ``convert``ed, then checked; each message a format of text/value."""
    try:
        value = convert(text)
    except ValueError:
        raise ValueError(not_a_number.format(text=text)) from None
    if not within(value):  # NaN fails a range check too
        raise ValueError(out_of_range.format(text=text, value=value))
    return value


def _time_scale(text: str) -> float:
    return float(
        _bounded(
            text,
            float,
            lambda scale: 0 < scale <= 1,
            "time scale must be a number in (0, 1], got {text!r}",
            "time scale must be in (0, 1], got {text}",
        )
    )


def port_number(text: str) -> int:
    """argparse type for --port: 0 (any free port) to 65535."""
    return int(
        _bounded(
            text,
            int,
            lambda port: 0 <= port <= 65535,
            "port must be a number from 0 to 65535, got {text!r}",
            "port must be a number from 0 to 65535, got {value}",
        )
    )


def stack_name(text: str) -> str:
    """argparse type for --stack-name, with CloudFormation's rule."""
    if not _STACK_NAME.fullmatch(text):
        raise ValueError(
            f"{text!r} is not a valid stack name: letters, digits and hyphens, starting with a "
            "letter, at most 128 characters"
        )
    return text


def _latency(text: str) -> Latency:
    try:
        return parse_latency(text)
    except ValueError as error:
        # argparse turns this into "argument --downstream-latency: ..." and exit status 2.
        raise argparse.ArgumentTypeError(str(error)) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sluice-local", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = _job(commands, "demo", help="upload sample CSVs and drain them end to end")
    _downstream(demo)
    _run_limits(demo, 600, "give up after this many seconds", ".demo/logs", LOG_DIR_HELP)
    payments = _job(
        commands,
        "payments",
        help="publish payment events and run them through the payments pipeline",
    )
    payments.add_argument(
        "--event",
        action="append",
        metavar="FILE",
        help="publish this file's content instead of the sample (repeatable), "
        "e.g. events/payment_event.json",
    )
    _run_limits(payments, 300, "give up after this many s", ".demo/payments-logs", "function logs")
    stream = _job(
        commands,
        "stream",
        help="produce events on the stream and run them through the stream pipeline",
    )
    stream.add_argument("--rate", type=float, default=500, help="events per second")
    stream.add_argument("--burst", action="store_true", help="ignore --rate: as fast as accepted")
    stream.add_argument("--seed", type=int, default=7)
    _run_limits(stream, 300, "give up after this many s", ".demo/stream-logs", "function logs")
    up = _job(
        commands,
        "up",
        help="deploy into a local AWS endpoint on 127.0.0.1 and keep it running (Ctrl-C stops)",
        description="Deploy the template into the embedded AWS emulator and serve it on "
        "127.0.0.1 until Ctrl-C or SIGTERM: schedules, pipes, stream mappings and the local "
        "downstream keep running, and the AWS CLI, boto3 and sluice work against it from other "
        "processes. It prints the endpoint, the stack, its outputs and what to export, then "
        "`ready`.",
        epilog="example: sluice-local up --port 4566 --parameter-overrides MaxConcurrency=3; "
        "then, in another shell: export AWS_ENDPOINT_URL=http://127.0.0.1:4566 "
        "AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1; "
        "aws s3 ls",
    )
    from sluice_local.jobs import up as up_module

    up.add_argument(
        "--port",
        type=_checked(port_number),
        default=up_module.DEFAULT_PORT,
        help=f"port on {up_module.HOST} (default {up_module.DEFAULT_PORT}; 0 takes a free one, "
        "printed in the Endpoint line); it never listens beyond 127.0.0.1: no authentication",
    )
    up.add_argument(
        "--stack-name",
        type=_checked(stack_name),
        default=up_module.DEFAULT_STACK,
        help=f"CloudFormation stack name (default {up_module.DEFAULT_STACK!r}, samconfig.toml's)",
    )
    _downstream(up)
    up.add_argument("--log-dir", default=".demo/up-logs", help=LOG_DIR_HELP)
    iam_report = commands.add_parser(
        "iam-report", help="per role, the IAM actions granted beside those a run used"
    )
    iam_report.add_argument("report", nargs="?", default=".demo/report.json", help="a run's report")
    args = parser.parse_args(argv)
    from sluice_local.emulator.template import TemplateError

    try:
        return _run(args)
    except TemplateError as exc:
        # CloudFormation would refuse this stack (a parameter constraint, a Rule): say why, as
        # the deploy command would, without a traceback.
        print(f"sluice-local: the stack is refused: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    if args.command == "iam-report":
        from sluice_local.emulator.iam.report import report_main

        return report_main(args.report)
    if args.command == "stream":
        from sluice_local.jobs import stream_job

        return stream_job.main(args)
    if args.command == "payments":
        from sluice_local.jobs import payments as payments_module

        return payments_module.main(args)
    if getattr(args, "downstream_latency_time_scaled", None) is not None:
        args.downstream_latency = dataclasses.replace(
            args.downstream_latency, time_scaled=args.downstream_latency_time_scaled
        )
    if args.command == "demo":
        from sluice_local.jobs import demo as demo_module

        return demo_module.main(args)
    if args.command == "up":
        from sluice_local.jobs import up as up_module

        return up_module.main(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
