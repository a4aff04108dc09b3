"""What the pipeline models share: the objects pipeline's metered run, what the functions logged
during a run, the fixed monthly costs an optional pipeline adds, and the
printing of a model's figures."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from local_runs import LOG_DIR, ROOT

from sluice_local.jobs.demo import deployed, run_job
from sluice_local.jobs.report import report_run

from .meters import CheckpointMeter
from .prices import GB, MILLION, PRICE

PLATFORM_LOG_BYTES = 350  # Lambda's START, END and REPORT lines of one invocation (assumed)


@contextmanager
def object_run(
    sample: Any, overrides: dict[str, str], time_scale: float, job: str
) -> Iterator[tuple[Any, CheckpointMeter, Any]]:
    """Deploys the template with ``overrides`` (a 5 ms downstream) and drains ``sample`` through
    it, ProcessObject's checkpoint writes and S3 reads metered: (pipeline, meter, report), while
    the pipeline is still up."""
    import boto3

    with deployed(
        ROOT / "template.yaml", overrides, time_scale=time_scale, latency_s=0.005, log_dir=LOG_DIR
    ) as (pipeline, downstream):
        meter = CheckpointMeter(pipeline.outputs["CheckpointTableName"])
        meter.register(boto3._get_default_session().events)
        report = run_job(pipeline, downstream, sample, timeout=3600)
        report_run(pipeline, ROOT, job, report)
        yield pipeline, meter, report


class LogTail:
    """What the functions' log files gain from now on: the local runtime appends to them across
    runs, so a run's lines are those past each file's size when the tail was taken."""

    def __init__(self, functions: Iterable[str]) -> None:
        self.paths = {f: LOG_DIR / f"{f}.log" for f in functions}
        self.offsets = {
            f: path.stat().st_size if path.exists() else 0 for f, path in self.paths.items()
        }

    def read(self) -> tuple[int, list[str]]:
        """(bytes, lines) the functions logged since."""
        log_bytes, lines = 0, []
        for f, path in self.paths.items():
            with path.open("rb") as file:
                file.seek(self.offsets[f])
                new = file.read()
            log_bytes += len(new)
            lines.extend(new.decode("utf-8", "replace").splitlines())
        return log_bytes, lines


def json_records(lines: list[str], marker: str) -> Iterator[dict[str, Any]]:
    """The JSON objects among the log lines that contain ``marker`` (any other line is passed
    over: Lambda's own lines, a handler's plain text)."""
    for line in lines:
        if marker not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            yield record


def emf_metrics(lines: list[str]) -> set[tuple[str, str, tuple[tuple[str, str], ...]]]:
    """Custom metrics (namespace, name, dimensions) the functions' EMF log lines create."""
    metrics = set()
    for record in json_records(lines, '"_aws"'):
        for directive in record["_aws"].get("CloudWatchMetrics", []):
            for dimension_set in directive.get("Dimensions", []) or [[]]:
                dimensions = tuple((d, str(record.get(d))) for d in dimension_set)
                for metric in directive.get("Metrics", []):
                    metrics.add((directive["Namespace"], metric["Name"], dimensions))
    return metrics


def function_logs(
    parameters: Mapping[str, Any], log_bytes: int, invocations: int, events: int
) -> tuple[str, float]:
    """The functions' CloudWatch Logs ingestion, as a line item in $ per million events: what
    they logged plus Lambda's own lines of each invocation."""
    total = log_bytes + PLATFORM_LOG_BYTES * invocations
    label = (
        f"CloudWatch Logs: function logs, {parameters.get('LogLevel', 'INFO')},"
        f" {total / events:.0f} B/event"
    )
    return label, total / events / GB * PRICE["logs_ingested_gb"] * MILLION


def pipeline_fixed_costs(
    resources: Mapping[str, Any], condition: str, key: str, emitters: str, log_lines: list[str]
) -> dict[str, float]:
    """$ per month an optional pipeline costs whatever its volume: the KMS keys and alarms the
    template creates under ``condition``, and the custom metrics the run's EMF lines created."""
    created = [r for r in resources.values() if r.get("Condition") == condition]
    keys = sum(r["Type"] == "AWS::KMS::Key" for r in created)
    alarms = sum(r["Type"] == "AWS::CloudWatch::Alarm" for r in created)
    metrics = len(emf_metrics(log_lines))
    return {
        f"KMS keys ({keys}: {key}; $3 after 2 rotations)": keys * PRICE["kms_key_month"],
        f"CloudWatch alarms ({alarms})": alarms * PRICE["alarm_month"],
        f"custom metrics, from the {emitters} EMF lines ({metrics})": (
            metrics * PRICE["custom_metric_month"]
        ),
    }


# -- printing ------------------------------------------------------------------------------------


def print_measured(
    title: str, facts: Mapping[str, object], counts: object, per: str, spec: str
) -> None:
    """A run's facts, then its billable units per ``per`` (a dataclass's fields)."""
    print(title)
    for name, value in facts.items():
        print(f"  {name:<22} {value}")
    print(f"\nPer {per}:")
    for name, value in vars(counts).items():
        print(f"  {name:<22} {value:{spec}}")


def print_versus_seed(
    heading: str, sluice: Mapping[str, float], seed: Mapping[str, float], total: str
) -> tuple[float, float]:
    """Sluice's line items beside the seed design's, with their totals and ratio."""
    print(f"\n{heading:<52} {'Sluice':>10} {'seed design':>12}")
    for item in sluice:
        print(f"  {item:<50} {sluice[item]:>10.2f} {seed[item]:>12.2f}")
    sluice_total, seed_total = sum(sluice.values()), sum(seed.values())
    print(f"  {total:<50} {sluice_total:>10.2f} {seed_total:>12.2f}")
    print(f"  {'ratio Sluice / seed':<50} {sluice_total / seed_total:>10.2f}")
    return sluice_total, seed_total


def print_items(title: str, items: Mapping[str, float], width: int, total: bool = False) -> None:
    """A titled list of line items in $, and their total if asked."""
    print(title)
    for item, value in items.items():
        print(f"  {item:<{width}} {value:>10.2f}")
    if total:
        print(f"  {'total':<{width}} {sum(items.values()):>10.2f}")
