"""CloudWatch -> Dynatrace: what is synced, how it is read, how it is written and sent.

- **Catalogue** (:data:`METRICS`): every metric the sync sends, with its Dynatrace key and the
  dimension it is split by. It is the one list of keys: the dashboard generator
  (``scripts/sluice_ops/dashboard.py``) loads this file, so its charts query what is sent. The
  module therefore imports only the standard library at module level.
- **Read**: one CloudWatch ``GetMetricData`` query per metric, resource and statistic, a minute
  apart (:func:`build_queries`, :func:`fetch`).
- **Write**: Dynatrace metric line protocol (:func:`to_datapoints`, :func:`format_line`):
  ``key,dim="value" payload timestamp``, counts as ``count,delta=<Sum>`` and gauges as
  ``gauge,min=..,max=..,sum=..,count=..`` from Minimum/Maximum/Sum/SampleCount.
- **Send**: ``POST /api/v2/metrics/ingest`` in chunks within Dynatrace's limits, retrying
  429/5xx and connection errors with backoff (:func:`send_lines`).

Count keys end in ``.count``: Dynatrace Classic appends that suffix to count metrics that lack
it, so the key sent is the key queried, in Classic and in Grail alike.

Takes the CloudWatch client, HTTP pool, clock and sleep as arguments; no boto3 here.
"""

from __future__ import annotations

import json
import math
import random
import re
import time
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sluice_common.urls import ReplyBody

PERIOD_S = 60  # CloudWatch resolution read, and Dynatrace's one-minute slot
MAX_QUERIES_PER_CALL = 500  # GetMetricData
MAX_LINES_PER_REQUEST = 1000  # what Dynatrace's own exporters send per request
MAX_BODY_BYTES = 1_000_000  # the ingest API takes at most 1 MB per request
MAX_AGE_S = 3600  # Dynatrace drops data points more than an hour old
AGE_MARGIN_S = 120  # ... so leave room for the time the request takes
MAX_DIMENSION_VALUE = 250  # characters; longer values are cut
INGEST_PATH = "/api/v2/metrics/ingest"
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class Kind(StrEnum):
    COUNT = "count"  # Sum per minute, sent as a delta
    GAUGE = "gauge"  # Minimum/Maximum/Sum/SampleCount per minute, sent as a summary


class Scope(StrEnum):
    """What a metric is measured on; the value is the Dynatrace dimension's name."""

    QUEUE = "queue"
    FUNCTION = "function"
    STATE_MACHINE = "state_machine"
    SERVICE = "service"


# The CloudWatch dimension each scope is read by.
CLOUDWATCH_DIMENSION = {
    Scope.QUEUE: "QueueName",
    Scope.FUNCTION: "FunctionName",
    Scope.STATE_MACHINE: "StateMachineArn",
    Scope.SERVICE: "service",  # Powertools' default dimension
}
STACK_DIMENSION = "stack"
GAUGE_STATS = ("Minimum", "Maximum", "Sum", "SampleCount")


@dataclass(frozen=True)
class MetricSpec:
    key: str  # Dynatrace metric key
    namespace: str | None  # CloudWatch namespace; None: the pipeline's own (METRICS_NAMESPACE)
    name: str  # CloudWatch metric name
    kind: Kind
    scope: Scope
    unit: str  # of the values, for people and charts

    @property
    def stats(self) -> tuple[str, ...]:
        return ("Sum",) if self.kind is Kind.COUNT else GAUGE_STATS


def _count(key: str, namespace: str | None, name: str, scope: Scope) -> MetricSpec:
    return MetricSpec(f"sluice.{key}.count", namespace, name, Kind.COUNT, scope, "count")


def _gauge(key: str, namespace: str | None, name: str, scope: Scope, unit: str) -> MetricSpec:
    return MetricSpec(f"sluice.{key}", namespace, name, Kind.GAUGE, scope, unit)


SQS, LAMBDA, STATES = "AWS/SQS", "AWS/Lambda", "AWS/States"

METRICS: tuple[MetricSpec, ...] = (
    _gauge("queue.messages_visible", SQS, "ApproximateNumberOfMessagesVisible", Scope.QUEUE, ""),
    _gauge("queue.oldest_message_age", SQS, "ApproximateAgeOfOldestMessage", Scope.QUEUE, "s"),
    _count("queue.messages_sent", SQS, "NumberOfMessagesSent", Scope.QUEUE),
    _count("queue.messages_deleted", SQS, "NumberOfMessagesDeleted", Scope.QUEUE),
    _count("function.invocations", LAMBDA, "Invocations", Scope.FUNCTION),
    _count("function.errors", LAMBDA, "Errors", Scope.FUNCTION),
    _count("function.throttles", LAMBDA, "Throttles", Scope.FUNCTION),
    _gauge("function.duration", LAMBDA, "Duration", Scope.FUNCTION, "ms"),
    _gauge("function.concurrent_executions", LAMBDA, "ConcurrentExecutions", Scope.FUNCTION, ""),
    _count("drain.executions_started", STATES, "ExecutionsStarted", Scope.STATE_MACHINE),
    _count("drain.executions_succeeded", STATES, "ExecutionsSucceeded", Scope.STATE_MACHINE),
    _count("drain.executions_failed", STATES, "ExecutionsFailed", Scope.STATE_MACHINE),
    _count("drain.executions_timed_out", STATES, "ExecutionsTimedOut", Scope.STATE_MACHINE),
    _count("drain.executions_throttled", STATES, "ExecutionThrottled", Scope.STATE_MACHINE),
    _count("objects.processed", None, "ObjectsProcessed", Scope.SERVICE),
    _count("objects.failed", None, "ObjectsFailed", Scope.SERVICE),
    _count("objects.postponed", None, "ObjectsPostponed", Scope.SERVICE),
    _count("rows.sent", None, "RowsSent", Scope.SERVICE),
    _count("rows.failed", None, "RowsFailed", Scope.SERVICE),
    _count("downstream.retries", None, "DownstreamRetries", Scope.SERVICE),
    _gauge("objects.processing_duration", None, "ObjectProcessingDuration", Scope.SERVICE, "ms"),
    _gauge("downstream.latency", None, "DownstreamLatency", Scope.SERVICE, "ms"),
    # The payment events pipeline (EnablePaymentPipeline): nothing to send while it is off.
    _count("payments.validated", None, "PaymentsValidated", Scope.SERVICE),
    _count("payments.rejected", None, "PaymentsRejected", Scope.SERVICE),
    _count("payments.processed", None, "PaymentsProcessed", Scope.SERVICE),
    _count("payments.enriched", None, "PaymentsEnriched", Scope.SERVICE),
    _count("payments.high_risk", None, "HighRiskPayments", Scope.SERVICE),
    # The stream pipeline (EnableStreamPipeline).
    _count("stream.events_processed", None, "ProcessedEvents", Scope.SERVICE),
    _count("stream.events_failed", None, "FailedEvents", Scope.SERVICE),
    _gauge("stream.batch_size", None, "BatchSize", Scope.SERVICE, ""),
    _gauge("stream.success_rate", None, "SuccessRate", Scope.SERVICE, "%"),
    _gauge("stream.processing_duration", None, "ProcessingDuration", Scope.SERVICE, "ms"),
)


def spec_for(name: str, namespace: str | None = None) -> MetricSpec:
    """The catalogue entry of a CloudWatch metric (namespace None: the pipeline's own)."""
    for spec in METRICS:
        if spec.name == name and spec.namespace == namespace:
            return spec
    raise KeyError(f"{namespace or 'pipeline'}/{name} is not synced to Dynatrace")


def state_machine_name(arn: str) -> str:
    """``arn:aws:states:r:a:stateMachine:NAME`` -> ``NAME`` (the Dynatrace dimension value)."""
    return arn.rsplit(":", 1)[-1]


def queue_name(url_or_name: str) -> str:
    """A queue URL (CloudFormation's physical id of AWS::SQS::Queue) or name -> its name."""
    return url_or_name.rstrip("/").rsplit("/", 1)[-1]


# -- errors ------------------------------------------------------------------------------------
class DynatraceError(Exception):
    """The sync could not deliver its metrics to Dynatrace."""


class DynatraceConfigError(DynatraceError):
    """A setting (URL, token, window) cannot work; fix the configuration."""


class DynatraceAuthError(DynatraceError):
    """Dynatrace refused the token (401/403)."""


class DynatraceUnavailable(DynatraceError):
    """429/5xx or no connection, still so after every retry."""


# -- what and when -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Resources:
    """The deployed pipeline whose metrics are synced."""

    stack: str
    namespace: str = "Sluice"
    service: str = "sluice"
    queues: tuple[str, ...] = ()
    functions: tuple[str, ...] = ()
    state_machine_arn: str = ""

    def targets(self, scope: Scope) -> list[tuple[str, str]]:
        """(CloudWatch dimension value, Dynatrace dimension value) of each resource."""
        if scope is Scope.QUEUE:
            return [(queue_name(q), queue_name(q)) for q in self.queues if q]
        if scope is Scope.FUNCTION:
            return [(f, f) for f in self.functions if f]
        if scope is Scope.STATE_MACHINE:
            arn = self.state_machine_arn
            return [(arn, state_machine_name(arn))] if arn else []
        return [(self.service, self.service)] if self.service else []


@dataclass(frozen=True)
class Window:
    """Whole minutes [start, end) synced by one run."""

    start: datetime
    end: datetime

    @classmethod
    def ending_before(cls, moment: datetime, period_s: int, delay_s: int) -> Window:
        """[moment - delay - period, moment - delay), minute-aligned. Runs ``period_s`` apart
        sync windows that follow each other with neither gap nor overlap; the delay gives
        CloudWatch time to receive late data points."""
        check_timing(period_s, delay_s)
        epoch = int((moment - timedelta(seconds=delay_s)).timestamp()) // PERIOD_S * PERIOD_S
        end = datetime.fromtimestamp(epoch, UTC)
        return cls(end - timedelta(seconds=period_s), end)

    def to_dict(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}


def check_timing(period_s: int, delay_s: int) -> None:
    if period_s < PERIOD_S or period_s % PERIOD_S:
        raise DynatraceConfigError(
            f"SYNC_PERIOD_SECONDS={period_s}: must be a whole number of minutes (60, 120, ...)"
        )
    if delay_s < 0:
        raise DynatraceConfigError(f"SYNC_DELAY_SECONDS={delay_s} must not be negative")
    if delay_s + period_s > MAX_AGE_S - AGE_MARGIN_S:
        raise DynatraceConfigError(
            f"SYNC_DELAY_SECONDS + SYNC_PERIOD_SECONDS = {delay_s + period_s}: Dynatrace drops "
            f"data points more than an hour ({MAX_AGE_S} s) old, keep the sum at most "
            f"{MAX_AGE_S - AGE_MARGIN_S}"
        )


# -- read: CloudWatch --------------------------------------------------------------------------
@dataclass(frozen=True)
class Series:
    """One GetMetricData query: a statistic of a metric of one resource."""

    id: str
    spec: MetricSpec
    dimension_value: str  # in Dynatrace
    stat: str


def build_queries(resources: Resources) -> tuple[list[dict[str, Any]], dict[str, Series]]:
    """Every MetricDataQuery of the catalogue for these resources, and what each Id is."""
    queries: list[dict[str, Any]] = []
    series: dict[str, Series] = {}
    for spec in METRICS:
        for cw_value, dt_value in resources.targets(spec.scope):
            for stat in spec.stats:
                query_id = f"m{len(queries)}"  # GetMetricData: ^[a-z][a-zA-Z0-9_]*$
                queries.append(
                    {
                        "Id": query_id,
                        "MetricStat": {
                            "Metric": {
                                "Namespace": spec.namespace or resources.namespace,
                                "MetricName": spec.name,
                                "Dimensions": [
                                    {"Name": CLOUDWATCH_DIMENSION[spec.scope], "Value": cw_value}
                                ],
                            },
                            "Period": PERIOD_S,
                            "Stat": stat,
                        },
                        "ReturnData": True,
                    }
                )
                series[query_id] = Series(query_id, spec, dt_value, stat)
    return queries, series


@dataclass
class Fetched:
    values: dict[str, list[tuple[datetime, float]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    calls: int = 0
    problems: list[str] = field(default_factory=list)  # series CloudWatch could not answer


def fetch(
    cloudwatch: Any, queries: Sequence[dict[str, Any]], window: Window, series: dict[str, Series]
) -> Fetched:
    """GetMetricData for every query, 500 a call, following NextToken."""
    fetched = Fetched()
    for first in range(0, len(queries), MAX_QUERIES_PER_CALL):
        chunk = list(queries[first : first + MAX_QUERIES_PER_CALL])
        token: str | None = None
        while True:
            request: dict[str, Any] = {
                "MetricDataQueries": chunk,
                "StartTime": window.start,
                "EndTime": window.end,
                "ScanBy": "TimestampAscending",
            }
            if token:
                request["NextToken"] = token
            response = cloudwatch.get_metric_data(**request)
            fetched.calls += 1
            for result in response.get("MetricDataResults", []):
                fetched.values[result["Id"]].extend(
                    zip(result.get("Timestamps", []), result.get("Values", []), strict=False)
                )
                if result.get("StatusCode") in {"InternalError", "Forbidden"}:
                    about = series.get(result["Id"])
                    name = f"{about.spec.name} {about.stat}" if about else result["Id"]
                    fetched.problems.append(f"{name}: {result['StatusCode']}")
            token = response.get("NextToken")
            if not token:
                break
    return fetched


# -- write: line protocol ----------------------------------------------------------------------
@dataclass(frozen=True)
class Datapoint:
    key: str
    dimensions: tuple[tuple[str, str], ...]
    payload: str
    timestamp_ms: int


def format_number(value: float) -> str:
    """Plain decimal notation, no exponent: ``3``, ``0.25``, ``0.00000001``."""
    if float(value).is_integer():
        return str(int(value))
    return format(Decimal(repr(float(value))), "f")


def count_payload(delta: float) -> str:
    return f"count,delta={format_number(delta)}"


def gauge_payload(minimum: float, maximum: float, total: float, count: int) -> str:
    return (
        f"gauge,min={format_number(minimum)},max={format_number(maximum)},"
        f"sum={format_number(total)},count={count}"
    )


def dimension_value(value: str) -> str:
    """A quoted dimension value: control characters (newlines!) become ``_``, at most 250
    characters, ``\\`` and ``"`` escaped with a backslash."""
    cleaned = "".join("_" if unicodedata.category(c)[0] == "C" else c for c in value)
    cleaned = cleaned[:MAX_DIMENSION_VALUE]
    return '"' + cleaned.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_line(point: Datapoint) -> str:
    dims = "".join(f",{k}={dimension_value(v)}" for k, v in point.dimensions if v)
    return f"{point.key}{dims} {point.payload} {point.timestamp_ms}"


def _finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


def to_datapoints(
    fetched: dict[str, list[tuple[datetime, float]]], series: dict[str, Series], stack: str
) -> list[Datapoint]:
    """One data point per metric, resource and minute that has data; counts from Sum, gauges
    from the four statistics of the same minute (skipped unless all four are there)."""
    minutes: dict[tuple[MetricSpec, str], dict[int, dict[str, float]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for query_id, values in fetched.items():
        about = series.get(query_id)
        if about is None:
            continue
        for timestamp, value in values:
            ms = int(timestamp.timestamp() * 1000)
            minutes[(about.spec, about.dimension_value)][ms][about.stat] = float(value)
    points: list[Datapoint] = []
    for (spec, target), by_minute in minutes.items():
        dimensions = ((STACK_DIMENSION, stack), (spec.scope.value, target))
        for ms in sorted(by_minute):
            stats = by_minute[ms]
            if spec.kind is Kind.COUNT:
                if "Sum" not in stats or not _finite(stats["Sum"]):
                    continue
                payload = count_payload(stats["Sum"])
            else:
                if any(stat not in stats for stat in GAUGE_STATS):
                    continue
                low, high, total, samples = (stats[stat] for stat in GAUGE_STATS)
                if not _finite(low, high, total, samples) or round(samples) < 1 or low > high:
                    continue
                payload = gauge_payload(low, high, total, round(samples))
            points.append(Datapoint(spec.key, dimensions, payload, ms))
    return points


def chunks(
    lines: Iterable[str],
    max_lines: int = MAX_LINES_PER_REQUEST,
    max_bytes: int = MAX_BODY_BYTES,
) -> Iterator[list[str]]:
    """Lines grouped into request bodies of at most ``max_lines`` lines and ``max_bytes``."""
    chunk: list[str] = []
    size = 0
    for line in lines:
        length = len(line.encode()) + 1  # and its newline
        if length > max_bytes:
            raise ValueError(f"a line of {length} bytes exceeds the {max_bytes}-byte request limit")
        if chunk and (len(chunk) >= max_lines or size + length > max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append(line)
        size += length
    if chunk:
        yield chunk


# -- send: Dynatrace ---------------------------------------------------------------------------
def ingest_url(api_url: str) -> str:
    """The ingest endpoint of an environment URL (``https://abc12345.live.dynatrace.com``, an
    ActiveGate's ``https://host:9999/e/<env>``, or the endpoint itself). HTTPS only, except
    plain http to loopback for a local stand-in; no userinfo (see sluice_common.urls)."""
    # The layer, imported here: the dashboard generator loads only this file.
    from sluice_common.urls import UrlNotAllowed, checked_url

    if not (api_url or "").strip():
        raise DynatraceConfigError(
            "DYNATRACE_API_URL is empty: set it to your environment's URL, "
            "e.g. https://abc12345.live.dynatrace.com"
        )
    try:
        url = checked_url(api_url, "DYNATRACE_API_URL", "DynatraceApiUrl").rstrip("/")
    except UrlNotAllowed as exc:
        raise DynatraceConfigError(
            f"{exc}; the environment's URL is e.g. https://abc12345.live.dynatrace.com "
            "(the token travels with every request)"
        ) from None
    return url if url.endswith(INGEST_PATH) else url + INGEST_PATH


@dataclass(frozen=True)
class Ingest:
    url: str  # the ingest endpoint (see ingest_url)
    token: str = field(repr=False)
    token_source: str  # where the token came from, named when Dynatrace refuses it
    timeout_s: float = 10.0
    max_attempts: int = 5
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 20.0


@dataclass
class IngestReport:
    requests: int = 0  # HTTP requests made, retries included
    lines_sent: int = 0
    lines_ok: int = 0
    lines_invalid: int = 0
    invalid: list[dict[str, Any]] = field(default_factory=list)  # Dynatrace's line errors
    warnings: list[str] = field(default_factory=list)


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    if value is None:
        return None
    try:
        return max(0.0, float(str(value).strip()))
    except ValueError:
        return None


# The counts lead Dynatrace's answer; its invalidLines list can run past what is read of it.
_COUNTS = re.compile(rb'"(linesOk|linesInvalid)"\s*:\s*(\d+)')


def _body(reply: ReplyBody) -> dict[str, Any]:
    """The answer's JSON object; from an answer cut at the read limit, its counts alone."""
    try:
        parsed = json.loads(reply.data or b"{}")
    except ValueError:
        if not reply.truncated:
            return {}
        return {name.decode(): int(value) for name, value in _COUNTS.findall(reply.data)}
    return parsed if isinstance(parsed, dict) else {}


def _message(body: dict[str, Any], reply: ReplyBody) -> str:
    error = body.get("error")
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    return reply.data[:300].decode(errors="replace") + reply.note()


_JITTER = random.Random()  # noqa: S311 - backoff jitter, not security


def _post(
    pool: Any,
    ingest: Ingest,
    body: bytes,
    report: IngestReport,
    sleep: Callable[[float], None],
    rng: random.Random,
) -> tuple[int, dict[str, Any], ReplyBody]:
    """POST one body; retry 429/5xx/connection errors; return the final status, JSON and what
    was read of the answer (its first 64 KiB)."""
    from urllib3.exceptions import HTTPError

    from sluice_common.redact import header_value_problem, safe_error, safe_url
    from sluice_common.urls import read_reply

    # http.client would refuse a bad token with an error that quotes it: name the problem only.
    token = ingest.token.strip()
    bad = header_value_problem(token)
    if bad:
        raise DynatraceConfigError(
            f"the API token from {ingest.token_source} {bad}: store the bare token on one "
            'line, or {"token": "<Dynatrace API token>"}'
        )
    shown = safe_url(ingest.url)  # messages name no userinfo or query string
    headers = {
        "Authorization": f"Api-Token {token}",
        "Content-Type": "text/plain; charset=utf-8",
        "Accept": "application/json",
    }
    problem = ""
    for attempt in range(1, ingest.max_attempts + 1):
        retry_after: float | None = None
        report.requests += 1
        try:
            response = pool.request(
                "POST",
                ingest.url,
                body=body,
                headers=headers,
                timeout=ingest.timeout_s,
                retries=False,
                preload_content=False,
            )
            reply = read_reply(response)
        except (HTTPError, OSError) as exc:
            problem = f"cannot reach {shown}: {safe_error(exc)}"
        except ValueError as exc:  # a header http.client refuses, quoting it: name none
            raise DynatraceConfigError(
                f"the request to {shown} cannot be built ({type(exc).__name__}): a header value "
                f"is not valid HTTP; check the API token from {ingest.token_source}"
            ) from None
        else:
            status = int(response.status)
            parsed = _body(reply)
            if status in (401, 403):
                raise DynatraceAuthError(
                    f"Dynatrace refused the API token from {ingest.token_source} "
                    f"(HTTP {status}: {_message(parsed, reply)}): the token needs the "
                    "metrics.ingest scope and must not be expired or revoked"
                )
            if status not in RETRYABLE_STATUS:
                return status, parsed, reply
            problem = f"HTTP {status} from {shown}: {_message(parsed, reply)}"
            retry_after = _retry_after(response.headers)
        if attempt < ingest.max_attempts:
            delay = rng.uniform(
                0, min(ingest.backoff_cap_s, ingest.backoff_base_s * 2 ** (attempt - 1))
            )
            if retry_after is not None:
                delay = max(delay, min(retry_after, ingest.backoff_cap_s))
            sleep(delay)
    raise DynatraceUnavailable(f"{problem} (gave up after {ingest.max_attempts} attempts)")


def send_lines(
    pool: Any,
    ingest: Ingest,
    lines: Sequence[str],
    *,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    max_lines: int = MAX_LINES_PER_REQUEST,
    max_bytes: int = MAX_BODY_BYTES,
) -> IngestReport:
    """Send lines in chunks. Invalid lines (202 with linesInvalid, or 400 when all of a chunk
    are) are reported, not retried: sending them again cannot make them valid."""
    from sluice_common.redact import safe_url

    report = IngestReport()
    for chunk in chunks(lines, max_lines, max_bytes):
        status, body, reply = _post(
            pool, ingest, "\n".join(chunk).encode(), report, sleep, rng or _JITTER
        )
        report.lines_sent += len(chunk)
        if status not in (200, 202, 400) or (status == 400 and "linesInvalid" not in body):
            raise DynatraceError(
                f"Dynatrace answered HTTP {status} to {safe_url(ingest.url)}: "
                f"{_message(body, reply)}"
                + (" (is DYNATRACE_API_URL the environment's URL?)" if status == 404 else "")
            )
        if reply.truncated or reply.problem:
            report.warnings.append(
                f"Dynatrace's answer to {len(chunk)} lines was not read in full"
                f"{reply.note()}: counted linesOk={body.get('linesOk', 'unknown')}, "
                f"linesInvalid={body.get('linesInvalid', 'unknown')}; invalid lines past the "
                "part read are not listed"
            )
        ok = int(body.get("linesOk") or 0)
        invalid = int(body.get("linesInvalid") or 0)
        report.lines_ok += ok
        report.lines_invalid += invalid
        error = body.get("error")
        if invalid and isinstance(error, dict):
            for entry in error.get("invalidLines") or []:
                if isinstance(entry, dict) and isinstance(entry.get("line"), int):
                    index = entry["line"] - 1  # 1-based, within this request
                    text = chunk[index] if 0 <= index < len(chunk) else ""
                    report.invalid.append({"error": entry.get("error"), "line": text[:500]})
        warnings = body.get("warnings")
        if isinstance(warnings, dict) and warnings.get("message"):
            report.warnings.append(str(warnings["message"]))
    return report


# -- the whole run -----------------------------------------------------------------------------
@dataclass
class SyncReport:
    window: Window
    queries: int
    cloudwatch_calls: int
    datapoints: int
    too_old: int  # data points dropped: older than Dynatrace accepts
    ingest: IngestReport
    problems: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "window": self.window.to_dict(),
            "queries": self.queries,
            "cloudwatch_calls": self.cloudwatch_calls,
            "datapoints": self.datapoints,
            "too_old": self.too_old,
            "requests": self.ingest.requests,
            "lines_sent": self.ingest.lines_sent,
            "lines_ok": self.ingest.lines_ok,
            "lines_invalid": self.ingest.lines_invalid,
            "cloudwatch_problems": self.problems,
        }


def sync(
    cloudwatch: Any,
    pool: Any,
    resources: Resources,
    ingest: Ingest,
    window: Window,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> SyncReport:
    """Read the window's metrics from CloudWatch and send them to Dynatrace."""
    queries, series = build_queries(resources)
    fetched = fetch(cloudwatch, queries, window, series)
    points = to_datapoints(fetched.values, series, resources.stack)
    oldest_ms = int((clock() - MAX_AGE_S + AGE_MARGIN_S) * 1000)
    fresh = [p for p in points if p.timestamp_ms >= oldest_ms]
    report = (
        send_lines(pool, ingest, [format_line(p) for p in fresh], sleep=sleep, rng=rng)
        if fresh
        else IngestReport()
    )
    return SyncReport(
        window=window,
        queries=len(queries),
        cloudwatch_calls=fetched.calls,
        datapoints=len(fresh),
        too_old=len(points) - len(fresh),
        ingest=report,
        problems=fetched.problems,
    )
