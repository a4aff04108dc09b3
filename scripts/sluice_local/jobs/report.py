"""``.demo/report.json``: what a local run measured against AWS's limits, for a person or a CI
job to read after ``sluice-local demo|payments|stream`` or a benchmark.

    path = write_report(pipeline, default_report_path(root), job="demo", summary={...})

Shape (every key always present; figures not measured say so in ``not_measured``)::

    {
      "job": "demo", "written_at": "2026-11-30T21:00:00Z", "template": "...", "stack": "...",
      "lenient": false,
      "time_scale": 0.05,
      "time_scaled": [...],      # what ran faster than on AWS
      "real_time": [...],        # what did not: Lambda timeouts and every duration here
      "limits": {"sync_request_bytes": 6291456, "sync_response_bytes": 6291556,
                 "async_request_bytes": 1048576, "timeouts": "enforced" | "measured only"},
      "functions": {"<LogicalId>": {"invocations", "errors", "throttles", "max_duration_s",
                    "timeout_s", "timed_out", "over_timeout", "refused_after_timeout",
                    "abandoned_still_running", "oversized_requests", "oversized_responses",
                    "memory_mb", "reserved_concurrency", "peak_concurrency"}},
      "iam": {"measured": bool, "enforced": bool, "calls_checked": int, "denied_calls": int,
              "denied": [{"principal", "action", "resource", "reason", ...}],
              "roles": {"<role>": {"granted": [...], "used": [...], "granted_unused": [...]}}},
      "downstream_latency": {"seconds": [5, 30], "time_scaled": true},  # demo only, else null
      "summary": {...},          # the figures the job printed
      "not_measured": [...]
    }

The IAM figures come from the pipeline's IAM engine when it has one: any object at
``pipeline.iam`` with a ``summary()`` shaped as :class:`IamSummary` describes.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any, NotRequired, Protocol, TypedDict

from sluice_local.emulator.invoker import Dispatcher
from sluice_local.emulator.lambda_service import (
    ASYNC_REQUEST_LIMIT,
    SYNC_REQUEST_LIMIT,
    SYNC_RESPONSE_LIMIT,
)

# What timescale.py and the runners shorten, and what they leave in real time.
TIME_SCALED = [
    "Step Functions Wait states",
    "Step Functions Retry intervals",
    "SQS long polls (WaitTimeSeconds)",
    "EventBridge rate(...) schedules",
    "Pipes and Kinesis mapping batching windows; Pipes' visibility timeout on failure",
    "Kinesis MaximumRecordAgeInSeconds",
]
REAL_TIME = [
    "Lambda function Timeout (template seconds, enforced in real seconds)",
    "every duration in this report (max_duration_s, wall time)",
    "SQS visibility timeouts set by the drain or the queues",
]
# The local downstream API's latency goes in one list or the other, as the run set it.
DOWNSTREAM_LATENCY_SCALED = (
    "local downstream API latency (--downstream-latency LOW-HIGH: the API's seconds, slept"
    " times time_scale)"
)
DOWNSTREAM_LATENCY_REAL = (
    "local downstream API latency (--downstream-latency SECONDS: slept as given, against real"
    " Lambda timeouts)"
)


class Denial(TypedDict):
    principal: str
    action: str
    resource: str
    reason: str


class RoleUse(TypedDict):
    granted: list[str]
    used: list[str]
    granted_unused: list[str]


class IamSummary(TypedDict):
    calls_checked: int
    denied: list[Denial]  # each refusal once
    roles: dict[str, RoleUse]
    denied_calls: NotRequired[int]  # every refused call (default: len(denied))
    enforced: NotRequired[bool]  # False under --lenient: refusals recorded, not applied


class _Pipeline(Protocol):
    """The parts of LocalPipeline the report reads."""

    dispatcher: Dispatcher
    template_path: Path
    stack_name: str
    time_scale: float


def default_report_path(project_root: Path) -> Path:
    return project_root / ".demo" / "report.json"


def function_figures(dispatcher: Dispatcher) -> dict[str, dict[str, Any]]:
    stats = dispatcher.stats
    abandoned = dispatcher.abandoned_running()
    figures: dict[str, dict[str, Any]] = {}
    for runtime in sorted(dispatcher.runtimes(), key=lambda r: r.logical_id):
        name = runtime.logical_id
        figures[name] = {
            "invocations": stats.invocations[name],
            "errors": stats.errors[name],
            "throttles": stats.throttles[name],
            "max_duration_s": round(stats.max_seconds.get(name, 0.0), 3),
            "timeout_s": runtime.timeout_seconds,
            "timed_out": stats.timeouts[name],
            "over_timeout": stats.over_timeout[name],
            "refused_after_timeout": stats.refused_after_timeout[name],
            "abandoned_still_running": abandoned[name],
            "oversized_requests": stats.oversized_requests[name],
            "oversized_responses": stats.oversized_responses[name],
            "memory_mb": runtime.memory_mb,
            "reserved_concurrency": runtime.reserved_concurrency,
            "peak_concurrency": stats.peak_in_flight[name],
        }
    return figures


def iam_figures(pipeline: object) -> dict[str, Any]:
    engine = getattr(pipeline, "iam", None)
    if engine is None or not callable(getattr(engine, "summary", None)):
        return {
            "measured": False,
            "calls_checked": 0,
            "denied_calls": 0,
            "denied": [],
            "roles": {},
        }
    summary = engine.summary()
    denied = [dict(d) for d in summary.get("denied", [])]
    return {
        "measured": True,
        "enforced": bool(summary.get("enforced", True)),
        "calls_checked": int(summary.get("calls_checked", 0)),
        # Calls refused (a refusal repeated counts each time); "denied" lists each once.
        "denied_calls": int(summary.get("denied_calls", len(denied))),
        "denied": denied,
        "roles": {
            role: {
                **{k: v for k, v in use.items() if k not in ("granted", "used", "granted_unused")},
                "granted": sorted(use.get("granted", [])),
                "used": sorted(use.get("used", [])),
                "granted_unused": sorted(use.get("granted_unused", [])),
            }
            for role, use in sorted(summary.get("roles", {}).items())
        },
    }


def longest_invocation(functions: dict[str, dict[str, Any]]) -> tuple[str, float, float] | None:
    """(function, seconds, timeout) of the invocation that came closest to its Timeout."""
    ran = [(n, f) for n, f in functions.items() if f["invocations"] and f["timeout_s"]]
    if not ran:
        return None
    name, figures = max(ran, key=lambda item: item[1]["max_duration_s"] / item[1]["timeout_s"])
    return name, figures["max_duration_s"], figures["timeout_s"]


def _as_summary(summary: object) -> dict[str, Any]:
    """A job's figures as a dict: a report dataclass's fields (the limit lines excepted, which
    the report holds itself), or a dict as given."""
    if dataclasses.is_dataclass(summary) and not isinstance(summary, type):
        figures = dataclasses.asdict(summary)
        figures.pop("limit_lines", None)
        return figures
    return dict(summary) if isinstance(summary, dict) else {}


def build_report(
    pipeline: _Pipeline,
    *,
    job: str,
    summary: object = None,
    downstream_latency: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``downstream_latency``: the local downstream's setting (``{"seconds", "time_scaled"}``),
    when the job ran one; it decides which list names the latency."""
    dispatcher = pipeline.dispatcher
    functions = function_figures(dispatcher)
    iam = iam_figures(pipeline)
    not_measured = []
    if not iam["measured"]:
        not_measured.append("iam: no IAM engine on this runtime (calls_checked, denied, roles)")
    figures = _as_summary(summary)
    if downstream_latency is None and isinstance(figures.get("downstream_latency"), dict):
        # A demo JobReport carries it (benchmarks pass theirs through report_run): say it too.
        downstream_latency = figures["downstream_latency"] or None
    scaled_latency: list[str] = []
    real_latency: list[str] = []
    if downstream_latency is not None:
        if downstream_latency["time_scaled"]:
            scaled_latency.append(DOWNSTREAM_LATENCY_SCALED)
        else:
            real_latency.append(DOWNSTREAM_LATENCY_REAL)
    not_measured.append(
        "Lambda execution environment reset after a timeout: the next invocation reuses the "
        "module (no new cold start)"
    )
    return {
        "job": job,
        "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "template": str(pipeline.template_path),
        "stack": pipeline.stack_name,
        "lenient": dispatcher.lenient,
        "time_scale": pipeline.time_scale,
        "time_scaled": TIME_SCALED + scaled_latency,
        "real_time": REAL_TIME + real_latency,
        "limits": {
            "sync_request_bytes": SYNC_REQUEST_LIMIT,
            "sync_response_bytes": SYNC_RESPONSE_LIMIT,
            "async_request_bytes": ASYNC_REQUEST_LIMIT,
            "timeouts": "measured only (--lenient)" if dispatcher.lenient else "enforced",
        },
        "functions": functions,
        "iam": iam,
        "downstream_latency": downstream_latency,
        "summary": figures,
        "not_measured": not_measured,
    }


def write_report(
    pipeline: _Pipeline,
    path: Path,
    *,
    job: str,
    summary: object = None,
    downstream_latency: dict[str, Any] | None = None,
) -> Path:
    report = build_report(pipeline, job=job, summary=summary, downstream_latency=downstream_latency)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def report_run(pipeline: _Pipeline, root: Path, job: str, summary: object = None) -> Path:
    """For benchmarks: write the run's report to ``root/.demo/report.json``, print where."""
    path = write_report(pipeline, default_report_path(root), job=job, summary=summary)
    print(f"report: {path}")
    return path


def refused_calls(path: Path) -> int:
    """Calls IAM refused in the run written to ``path`` (0 when lenient: recorded, not refused).
    A job that met a refusal fails: on AWS that call would have failed too."""
    iam = json.loads(path.read_text(encoding="utf-8"))["iam"]
    return int(iam["denied_calls"]) if iam.get("measured") and iam.get("enforced") else 0


def summary_lines(report: dict[str, Any]) -> list[tuple[str, str]]:
    """The two lines every job prints under its summary, as (name, value)."""
    iam = report["iam"]
    checked = (
        f"{iam['calls_checked']}, denied {iam['denied_calls']}"
        if iam["measured"]
        else "not measured (no IAM engine on this runtime)"
    )
    longest = longest_invocation(report["functions"])
    invocation = (
        f"{longest[1]:.2f} s of {longest[2]:g} s timeout ({longest[0]})" if longest else "none"
    )
    return [("IAM calls checked", checked), ("longest invocation", invocation)]
