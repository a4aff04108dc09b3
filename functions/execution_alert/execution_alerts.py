"""Drain executions that ended badly, read from the drain's log, as alerts on the alarm topic.

The drain is an Express state machine: it keeps no execution history, only what it logs. At
level ERROR each log event is one execution history event as JSON, e.g.::

    {"id": "7", "type": "ExecutionFailed", "details": {"error": "...", "cause": "..."},
     "previous_event_id": "6", "event_timestamp": "1700000000000",
     "execution_arn": "arn:aws:states:...:express:<state machine>:<execution>:<run>",
     "redrive_count": "0"}

An execution that failed, timed out or was aborted becomes one :class:`Alert` published to SNS
(AlertNotifierFunction mails it). Other logged events (failed tasks the drain caught and handled)
are not alerts: the execution went on.

Takes its SNS client as an argument; no boto3 import at module level.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sluice_common.alerts import Alert, as_text, execution_url

ALERT_TYPES = frozenset({"ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"})
MESSAGE_SAMPLE_CHARS = 300  # of an unparseable log event, for the warning
SUBJECT_LIMIT = 100  # SNS: at most 100 printable ASCII characters, no line breaks
_OUTCOMES = {
    "ExecutionFailed": "failed",
    "ExecutionTimedOut": "timed out",
    "ExecutionAborted": "was aborted",
}
_NOT_PRINTABLE = re.compile(r"[^\x20-\x7e]+")


@dataclass(frozen=True)
class LogEvent:
    message: str
    timestamp_ms: int | None = None  # CloudWatch Logs' own timestamp, when the event has none


@dataclass
class Outcome:
    published: int = 0
    ignored: dict[str, int] = field(default_factory=dict)  # event type -> count
    unparseable: list[dict[str, str]] = field(default_factory=list)  # reason, message_start

    def to_dict(self) -> dict[str, Any]:
        return {
            "published": self.published,
            "ignored": dict(self.ignored),
            "unparseable": len(self.unparseable),
        }


class UnparseableLogEvent(ValueError):
    """A log event that is not a Step Functions history event (not JSON, no type)."""


def history_event(message: str) -> dict[str, Any]:
    try:
        event = json.loads(message)
    except ValueError:
        raise UnparseableLogEvent("not JSON") from None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise UnparseableLogEvent("no event type")
    return event


def alert_for(event: dict[str, Any], fallback_timestamp_ms: int | None = None) -> Alert | None:
    """The alert for one history event, or None when the event is not an execution's end."""
    kind = event["type"]
    if kind not in ALERT_TYPES:
        return None
    details = event.get("details")
    details = details if isinstance(details, dict) else {}
    error, cause = as_text(details.get("error")), as_text(details.get("cause"))
    arn = as_text(event.get("execution_arn"))
    name = execution_name(arn)
    summary = f"Drain execution {name or '(unknown)'} {_OUTCOMES[kind]}"
    if error:
        summary += f": {error}"
    return Alert(
        kind=kind,
        summary=summary,
        error=error,
        cause=cause,
        execution=arn,
        execution_url=execution_url(arn) if arn else "",
        time=_iso_time(event.get("event_timestamp"), fallback_timestamp_ms),
    )


def execution_name(arn: str) -> str:
    # Standard: arn:aws:states:region:account:execution:machine:name
    # Express:  arn:aws:states:region:account:express:machine:name:run-id
    parts = arn.split(":")
    return parts[7] if len(parts) >= 8 and parts[5] in {"execution", "express"} else ""


def subject_for(alert: Alert) -> str:
    outcome = _OUTCOMES.get(alert.kind, alert.kind)
    subject = f"Sluice drain execution {outcome}"
    return sns_subject(f"{subject}: {alert.error}" if alert.error else subject)


def sns_subject(text: str) -> str:
    """``text`` as SNS accepts a Subject: ASCII, printable, one line, at most 100 characters."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    flat = " ".join(_NOT_PRINTABLE.sub(" ", ascii_text).split())
    if len(flat) > SUBJECT_LIMIT:
        flat = flat[: SUBJECT_LIMIT - 3].rstrip() + "..."
    return flat or "Sluice alert"


def publish_alerts(sns: Any, topic_arn: str, log_events: Iterable[LogEvent]) -> Outcome:
    """Publish one alert per execution that ended badly; count what was not an alert.

    Unparseable events are counted, not raised: a log line is not worth failing (and retrying)
    the whole batch for. A failed publish raises, so Lambda retries the batch.
    """
    outcome = Outcome()
    for log_event in log_events:
        try:
            event = history_event(log_event.message)
        except UnparseableLogEvent as exc:
            outcome.unparseable.append(
                {"reason": str(exc), "message_start": log_event.message[:MESSAGE_SAMPLE_CHARS]}
            )
            continue
        alert = alert_for(event, log_event.timestamp_ms)
        if alert is None:
            outcome.ignored[event["type"]] = outcome.ignored.get(event["type"], 0) + 1
            continue
        sns.publish(
            TopicArn=topic_arn,
            Subject=subject_for(alert),
            Message=alert.to_message(),
            # Lets a subscription filter on the kind (e.g. page only for ExecutionTimedOut).
            MessageAttributes={"sluiceAlert": {"DataType": "String", "StringValue": alert.kind}},
        )
        outcome.published += 1
    return outcome


def _iso_time(event_timestamp: Any, fallback_ms: int | None) -> str:
    try:
        millis = int(event_timestamp)
    except (TypeError, ValueError):
        if fallback_ms is None:
            return ""
        millis = fallback_ms
    return datetime.fromtimestamp(millis / 1000, UTC).isoformat(timespec="milliseconds")
