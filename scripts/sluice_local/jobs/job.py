"""What every `sluice-local` job shares: the template, its overrides and the report's path from
the command line, the opening lines, the pipeline deployed with the job's options, and the
closing verdict (FAILED when the job's own accounting or IAM refused something, else OK)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sluice_local.emulator.runtime import LocalPipeline
from sluice_local.jobs.report import default_report_path, refused_calls
from sluice_local.servers.downstream import DownstreamServer, Latency

Say = Callable[[str], None]
IAM_REFUSED = (
    "IAM refused {refused} call(s) that AWS would refuse too; `sluice-local iam-report` lists them"
)


def job_inputs(args: Any) -> tuple[Path, dict[str, str], Path]:
    """The template, its parameter overrides (samconfig.toml's environment, then
    --parameter-overrides) and where the run's report goes."""
    from sluice_local.emulator.template import command_overrides

    template = Path(args.template)
    overrides = command_overrides(template, args.config_env, args.parameter_overrides)
    report_path = Path(args.report) if args.report else default_report_path(template.parent)
    return template, overrides, report_path


def opening(say: Say, title: str, template: Path, overrides: dict[str, str]) -> None:
    say(f"{title}: {template} deployed into the embedded AWS emulator (moto)")
    say(f"  parameter overrides: {json.dumps(overrides)}")


def substitution_notes(say: Say, pipeline: LocalPipeline) -> None:
    """One line for each resource type of the stack that moto does not deploy, saying what
    stands in for it (deploy.SUBSTITUTES)."""
    from sluice_local.emulator.deploy import SUBSTITUTES

    assert pipeline.translated is not None
    types = {r["Type"] for r in pipeline.translated.cloudformation["Resources"].values()}
    for resource_type, note in sorted(SUBSTITUTES.items()):
        if resource_type in types:
            say(f"  note: {resource_type} {note}")


def time_scale_line(
    scale: float, what: str = "Wait states, retries, long polls and schedules"
) -> str:
    return f"  time scale {scale:g}: {what} run {1 / scale:g}x faster than on AWS"


@contextmanager
def downstream_api(
    latency: Latency, time_scale: float, overrides: dict[str, str]
) -> Iterator[DownstreamServer]:
    """The local downstream API, the stack's DownstreamApiUrl unless the overrides name one.
    Seeded: the same command draws the same latencies in the same order, run after run."""
    with DownstreamServer(latency=latency, time_scale=time_scale, seed=7) as downstream:
        overrides.setdefault("DownstreamApiUrl", downstream.url)
        yield downstream


@contextmanager
def job_pipeline(
    args: Any, template: Path, overrides: dict[str, str], say: Say, **options: Any
) -> Iterator[LocalPipeline]:
    """The pipeline deployed with the job's --time-scale, --log-dir and --lenient."""
    with LocalPipeline(
        template,
        overrides,
        time_scale=args.time_scale,
        log_dir=Path(args.log_dir),
        lenient=args.lenient,
        **options,
    ) as pipeline:
        if args.lenient:
            say("  LENIENT: AWS's limits are measured and reported, not enforced")
        yield pipeline


def verdict(say: Say, report_path: Path, failure: str | None, success: str) -> int:
    """The closing lines and the exit status: 1 on the job's own ``failure`` or on any call IAM
    refused during the run, else 0."""
    say(f"\n  report: {report_path}")
    if failure is not None:
        say(f"\nFAILED: {failure}")
        return 1
    if refused := refused_calls(report_path):
        say(f"\nFAILED: {IAM_REFUSED.format(refused=refused)}")
        return 1
    say(f"\nOK: {success}")
    return 0
