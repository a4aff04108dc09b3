"""Every metric Sluice emits or reads, each named here once.

The entries are in ``metric_catalogue.json`` beside this module, one line each:

- :data:`METRICS`: CloudWatch metrics. The pipeline's own (namespace ``None``: the one Powertools
  writes to, :data:`PIPELINE_NAMESPACE`) are the EMF metrics the functions emit with
  ``metrics.add_metric``; the ``AWS/*`` ones are what the alarms, the CloudWatch dashboards and
  the Dynatrace sync read. An entry with a ``dynatrace_key`` is copied to Dynatrace by
  MetricsSyncFunction, aggregated per minute as its :class:`Kind` says and split by its
  :class:`Scope`.
- :data:`LOG_METRICS`: the numbers a log line carries for Dynatrace log processing
  (``sluice_common.observability.dt_metrics``), under the key ``sluice.<name>``.

Who follows it: ``sluice_common.observability`` refuses to emit a name (or unit) missing here,
the sync builds its queries from it, ``sluice_ops.dashboard`` charts its keys, and
tests/template/test_metric_catalogue.py fails when template.yaml names a metric missing here or
an entry here is used nowhere. Standard library only: the operator tools import it too.

Count keys end in ``.count``: Dynatrace Classic appends that suffix to count metrics that lack
it, so the key sent is the key queried, in Classic and in Grail alike.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

# template.yaml's Globals set these as POWERTOOLS_METRICS_NAMESPACE and POWERTOOLS_SERVICE_NAME
# (a test checks they agree); the service is the dimension Powertools gives every EMF metric.
PIPELINE_NAMESPACE = "Sluice"
PIPELINE_SERVICE = "sluice"
SQS, LAMBDA, STATES = "AWS/SQS", "AWS/Lambda", "AWS/States"
DYNATRACE_PREFIX = "sluice."


class MetricNotCatalogued(ValueError):
    """A metric name, unit or log-metric key that sluice_common.metric_catalogue lacks: a
    coding mistake, so the function fails loudly instead of emitting a metric nothing reads."""


class Kind(StrEnum):
    """How one minute of the metric is aggregated (in the sync, and what a chart should do)."""

    COUNT = "count"  # Sum per minute, sent to Dynatrace as a delta
    GAUGE = "gauge"  # Minimum/Maximum/Sum/SampleCount per minute, sent as a summary


class Scope(StrEnum):
    """What a metric is measured on; the value is the Dynatrace dimension's name."""

    QUEUE = "queue"
    FUNCTION = "function"
    STATE_MACHINE = "state_machine"
    PIPE = "pipe"
    SERVICE = "service"


# The CloudWatch dimension each scope is read by.
CLOUDWATCH_DIMENSION = {
    Scope.QUEUE: "QueueName",
    Scope.FUNCTION: "FunctionName",
    Scope.STATE_MACHINE: "StateMachineArn",
    Scope.PIPE: "PipeName",
    Scope.SERVICE: "service",  # Powertools' default dimension
}
STACK_DIMENSION = "stack"  # the Dynatrace dimension every synced data point carries
GAUGE_STATS = ("Minimum", "Maximum", "Sum", "SampleCount")


@dataclass(frozen=True)
class Metric:
    """One CloudWatch metric: what it counts, its unit, and whether and how it is synced."""

    name: str  # CloudWatch metric name
    unit: str  # CloudWatch unit (Powertools' MetricUnit value the emitter must use)
    namespace: str | None  # None: the pipeline's own (PIPELINE_NAMESPACE)
    kind: Kind
    scope: Scope
    description: str
    dynatrace_key: str = ""  # "" : not synced to Dynatrace

    @property
    def key(self) -> str:
        """The Dynatrace metric key (the sync's and the Dynatrace dashboard's name for it)."""
        return self.dynatrace_key

    @property
    def stats(self) -> tuple[str, ...]:
        """The CloudWatch statistics one minute is read as."""
        return ("Sum",) if self.kind is Kind.COUNT else GAUGE_STATS


@dataclass(frozen=True)
class LogMetric:
    """A number a log line carries in its ``dt.metrics`` field, for Dynatrace log processing."""

    name: str  # the keyword given to dt_metrics
    unit: str
    kind: Kind  # COUNT: summed over lines; GAUGE: a value per line
    description: str


def _load(path: Path) -> tuple[tuple[Metric, ...], tuple[LogMetric, ...]]:
    """The entries of metric_catalogue.json, checked: a kind or scope this module does not know
    fails the import (every function's), not a sync run."""
    data = json.loads(path.read_text(encoding="utf-8"))
    metrics = []
    for entry in data["metrics"]:
        kind = Kind(entry["kind"])
        stem = entry["dynatrace"]
        key = DYNATRACE_PREFIX + stem + (".count" if kind is Kind.COUNT else "") if stem else ""
        metrics.append(
            Metric(
                name=entry["name"],
                unit=entry["unit"],
                namespace=entry["namespace"],
                kind=kind,
                scope=Scope(entry["scope"]),
                description=entry["description"],
                dynatrace_key=key,
            )
        )
    logs = [
        LogMetric(e["name"], e["unit"], Kind(e["kind"]), e["description"])
        for e in data["log_metrics"]
    ]
    return tuple(metrics), tuple(logs)


# The entries are data, one line each, in metric_catalogue.json beside this module (the layer
# ships it): "namespace" null is the pipeline's own; "dynatrace" is the stem of the Dynatrace key
# (null: not synced), which gets DYNATRACE_PREFIX and, for counts, ".count".
METRICS, LOG_METRICS = _load(Path(__file__).with_name("metric_catalogue.json"))
SYNCED: tuple[Metric, ...] = tuple(m for m in METRICS if m.dynatrace_key)
_BY_NAME = {(m.namespace, m.name): m for m in METRICS}
_LOG_BY_NAME = {m.name: m for m in LOG_METRICS}
_WHERE = (
    "add it to sluice_common/metric_catalogue.json (layers/common/python), read by "
    "sluice_common/metric_catalogue.py"
)


def metric(name: str, namespace: str | None = None) -> Metric:
    """The entry of a CloudWatch metric (namespace None: the pipeline's own)."""
    found = _BY_NAME.get((namespace, name))
    if found is None:
        raise MetricNotCatalogued(
            f"metric {namespace or PIPELINE_NAMESPACE}/{name} is not in the metric catalogue: "
            f"{_WHERE}"
        )
    return found


def spec_for(name: str, namespace: str | None = None) -> Metric:
    """The entry of a metric the sync sends to Dynatrace."""
    found = _BY_NAME.get((namespace, name))
    if found is None or not found.dynatrace_key:
        raise KeyError(f"{namespace or 'pipeline'}/{name} is not synced to Dynatrace")
    return found


def check_emitted(name: str, unit: str) -> Metric:
    """The pipeline metric ``name``, if the catalogue has it with ``unit``; else refused."""
    entry = metric(name)
    if entry.unit != unit:
        raise MetricNotCatalogued(
            f"metric {name} is emitted in {unit!r}, but the metric catalogue says {entry.unit!r} "
            "(sluice_common/metric_catalogue.json, read by metric_catalogue.py): emit it in "
            "the catalogue's unit"
        )
    return entry


def check_log_metrics(names: Iterable[str]) -> None:
    """Refuse ``dt_metrics`` keys the catalogue lacks."""
    unknown = sorted(name for name in names if name not in _LOG_BY_NAME)
    if unknown:
        raise MetricNotCatalogued(
            f"log metric key(s) {', '.join(unknown)} not in the metric catalogue's LOG_METRICS: "
            f"{_WHERE}"
        )


def state_machine_name(arn: str) -> str:
    """``arn:aws:states:r:a:stateMachine:NAME`` -> ``NAME`` (the Dynatrace dimension value)."""
    return arn.rsplit(":", 1)[-1]


def queue_name(url_or_name: str) -> str:
    """A queue URL (CloudFormation's physical id of AWS::SQS::Queue) or name -> its name."""
    return url_or_name.rstrip("/").rsplit("/", 1)[-1]
