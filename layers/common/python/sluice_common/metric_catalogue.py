"""Every metric Sluice emits or reads, each named here once.

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

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

# template.yaml's Globals set these as POWERTOOLS_METRICS_NAMESPACE and POWERTOOLS_SERVICE_NAME
# (a test checks they agree); the service is the dimension Powertools gives every EMF metric.
PIPELINE_NAMESPACE = "Sluice"
PIPELINE_SERVICE = "sluice"
SQS, LAMBDA, STATES, PIPES = "AWS/SQS", "AWS/Lambda", "AWS/States", "AWS/EventBridge/Pipes"
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
# CloudWatch unit -> the unit shown with a Dynatrace chart.
_SHOWN_UNIT = {"Milliseconds": "ms", "Seconds": "s", "Percent": "%"}


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

    @property
    def shown_unit(self) -> str:
        """The unit of the Dynatrace values, for people and charts."""
        return "count" if self.kind is Kind.COUNT else _SHOWN_UNIT.get(self.unit, "")


@dataclass(frozen=True)
class LogMetric:
    """A number a log line carries in its ``dt.metrics`` field, for Dynatrace log processing."""

    name: str  # the keyword given to dt_metrics
    unit: str
    kind: Kind  # COUNT: summed over lines; GAUGE: a value per line
    description: str

    @property
    def key(self) -> str:
        return DYNATRACE_PREFIX + self.name


def _metric(
    name: str,
    namespace: str | None,
    kind: Kind,
    scope: Scope,
    description: str,
    *,
    unit: str = "Count",
    synced_as: str = "",
) -> Metric:
    """An entry; ``synced_as`` is the Dynatrace key's stem (``.count`` added for counts)."""
    key = ""
    if synced_as:
        key = DYNATRACE_PREFIX + synced_as + (".count" if kind is Kind.COUNT else "")
    return Metric(name, unit, namespace, kind, scope, description, key)


C, G = Kind.COUNT, Kind.GAUGE
Q, F, SM, P, SV = Scope.QUEUE, Scope.FUNCTION, Scope.STATE_MACHINE, Scope.PIPE, Scope.SERVICE
MS, S, PCT = "Milliseconds", "Seconds", "Percent"

METRICS: tuple[Metric, ...] = (
    # -- AWS metrics: read by the alarms, the CloudWatch dashboards and the sync ---------------
    _metric("ApproximateNumberOfMessagesVisible", SQS, G, Q, "messages waiting in a queue",
            synced_as="queue.messages_visible"),
    _metric("ApproximateAgeOfOldestMessage", SQS, G, Q, "age of a queue's oldest message",
            unit=S, synced_as="queue.oldest_message_age"),
    _metric("NumberOfMessagesSent", SQS, C, Q, "messages sent to a queue (dead-lettered, for "
            "a dead-letter queue)", synced_as="queue.messages_sent"),
    _metric("NumberOfMessagesDeleted", SQS, C, Q, "messages deleted from a queue (done)",
            synced_as="queue.messages_deleted"),
    _metric("Invocations", LAMBDA, C, F, "function invocations",
            synced_as="function.invocations"),
    _metric("Errors", LAMBDA, C, F, "invocations that failed", synced_as="function.errors"),
    _metric("Throttles", LAMBDA, C, F, "invocations refused for concurrency",
            synced_as="function.throttles"),
    _metric("Duration", LAMBDA, G, F, "invocation duration", unit=MS,
            synced_as="function.duration"),
    _metric("ConcurrentExecutions", LAMBDA, G, F, "invocations running at once",
            synced_as="function.concurrent_executions"),
    _metric("IteratorAge", LAMBDA, G, F, "how far the stream function is behind its stream",
            unit=MS),
    _metric("ExecutionsStarted", STATES, C, SM, "workflow executions started",
            synced_as="drain.executions_started"),
    _metric("ExecutionsSucceeded", STATES, C, SM, "workflow executions that succeeded",
            synced_as="drain.executions_succeeded"),
    _metric("ExecutionsFailed", STATES, C, SM, "workflow executions that failed",
            synced_as="drain.executions_failed"),
    _metric("ExecutionsTimedOut", STATES, C, SM, "workflow executions that timed out",
            synced_as="drain.executions_timed_out"),
    _metric("ExecutionThrottled", STATES, C, SM, "state transitions throttled",
            synced_as="drain.executions_throttled"),
    _metric("ExecutionPartiallyFailed", PIPES, C, P, "pipe batches with events sent back "
            "(batchItemFailures)"),
    # -- the drain pipeline: process_object ----------------------------------------------------
    _metric("ObjectsProcessed", None, C, SV, "objects processed to the end",
            synced_as="objects.processed"),
    _metric("ObjectsContinued", None, C, SV, "objects left unfinished, to carry on from their "
            "checkpoint"),
    _metric("ObjectsFailed", None, C, SV, "objects that failed (dead-lettered or retried)",
            synced_as="objects.failed"),
    _metric("ObjectsPostponed", None, C, SV, "objects put back: no time left to start them",
            synced_as="objects.postponed"),
    _metric("RowsSent", None, C, SV, "rows delivered downstream", synced_as="rows.sent"),
    _metric("RowsFailed", None, C, SV, "rows that failed downstream after retries",
            synced_as="rows.failed"),
    _metric("DownstreamRetries", None, C, SV, "downstream requests retried",
            synced_as="downstream.retries"),
    _metric("ObjectProcessingDuration", None, G, SV, "time to process one object", unit=MS,
            synced_as="objects.processing_duration"),
    _metric("DownstreamLatency", None, G, SV, "mean downstream request time of one object",
            unit=MS, synced_as="downstream.latency"),
    # -- the payment events pipeline (EnablePaymentPipeline) -----------------------------------
    _metric("PaymentsValidated", None, C, SV, "payment events validated",
            synced_as="payments.validated"),
    _metric("PaymentsRejected", None, C, SV, "payment events rejected by a step",
            synced_as="payments.rejected"),
    _metric("PaymentsProcessed", None, C, SV, "payments processed",
            synced_as="payments.processed"),
    _metric("PaymentsEnriched", None, C, SV, "payments enriched",
            synced_as="payments.enriched"),
    _metric("HighRiskPayments", None, C, SV, "payments enriched as high risk",
            synced_as="payments.high_risk"),
    # -- the stream pipeline (EnableStreamPipeline) --------------------------------------------
    _metric("ProcessedEvents", None, C, SV, "stream events processed",
            synced_as="stream.events_processed"),
    _metric("FailedEvents", None, C, SV, "stream events sent back as batch item failures",
            synced_as="stream.events_failed"),
    _metric("BatchSize", None, G, SV, "stream records per batch",
            synced_as="stream.batch_size"),
    _metric("SuccessRate", None, G, SV, "share of a batch's events processed", unit=PCT,
            synced_as="stream.success_rate"),
    _metric("ProcessingDuration", None, G, SV, "time to process one stream batch", unit=MS,
            synced_as="stream.processing_duration"),
    # -- observability functions ---------------------------------------------------------------
    _metric("LogEventsForwarded", None, C, SV, "log events forwarded to Splunk HEC"),
    _metric("HecBatchesSent", None, C, SV, "HEC requests delivered"),
    _metric("HecRetries", None, C, SV, "HEC requests retried"),
    _metric("HecDeliveryFailures", None, C, SV, "log batches HEC never took"),
    _metric("ExecutionAlertsPublished", None, C, SV, "drain execution alerts published"),
    _metric("AlertEmailsSent", None, C, SV, "alert e-mails sent"),
    _metric("AlertEmailsFailed", None, C, SV, "alert e-mails not sent (SMTP failed)"),
    _metric("AlertRecipientsRefused", None, C, SV, "alert recipients the SMTP server refused"),
    _metric("DynatraceLinesSent", None, C, SV, "metric lines Dynatrace accepted"),
    _metric("DynatraceLinesInvalid", None, C, SV, "metric lines Dynatrace refused"),
)  # fmt: skip

LOG_METRICS: tuple[LogMetric, ...] = (
    LogMetric("rows_sent", "Count", C, "rows an object delivered downstream"),
    LogMetric("rows_failed", "Count", C, "rows of an object that failed downstream"),
    LogMetric("retries", "Count", C, "downstream requests an object retried"),
    LogMetric("downstream_ms", MS, C, "time an object spent in downstream requests"),
    LogMetric("duration_ms", MS, G, "time one invocation's work took (an object, a log batch)"),
    LogMetric("concurrency", "Count", G, "workers a drain round plans"),
    LogMetric("queue_depth", "Count", G, "messages in ObjectQueue when a round is planned"),
    LogMetric("log_events_forwarded", "Count", C, "log events forwarded to Splunk HEC"),
    LogMetric("hec_batches_sent", "Count", C, "HEC requests delivered"),
    LogMetric("hec_retries", "Count", C, "HEC requests retried"),
    LogMetric("stream_events_processed", "Count", C, "stream events processed in a batch"),
    LogMetric("stream_events_failed", "Count", C, "stream events of a batch sent back"),
    LogMetric("stream_write_calls", "Count", C, "BatchWriteItem calls of a stream batch"),
)

SYNCED: tuple[Metric, ...] = tuple(m for m in METRICS if m.dynatrace_key)
_BY_NAME = {(m.namespace, m.name): m for m in METRICS}
_LOG_BY_NAME = {m.name: m for m in LOG_METRICS}
_WHERE = "add it to sluice_common/metric_catalogue.py (layers/common/python)"


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
    for spec in SYNCED:
        if spec.name == name and spec.namespace == namespace:
            return spec
    raise KeyError(f"{namespace or 'pipeline'}/{name} is not synced to Dynatrace")


def check_emitted(name: str, unit: str) -> Metric:
    """The pipeline metric ``name``, if the catalogue has it with ``unit``; else refused."""
    entry = metric(name)
    if entry.unit != unit:
        raise MetricNotCatalogued(
            f"metric {name} is emitted in {unit!r}, but the metric catalogue says {entry.unit!r} "
            "(sluice_common/metric_catalogue.py): emit it in the catalogue's unit"
        )
    return entry


def check_log_metrics(names: Iterable[str]) -> None:
    """Refuse ``dt_metrics`` keys the catalogue lacks."""
    unknown = sorted(set(names) - set(_LOG_BY_NAME))
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
