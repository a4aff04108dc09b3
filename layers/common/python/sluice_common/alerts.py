"""Sluice's own alerts: one JSON shape for every event-driven alert on the alarm topic.

Producers: the drain state machine (DeadLetter/RejectMessage publish ``ObjectDeadLettered``) and
ExecutionAlertFunction (``ExecutionFailed``/``ExecutionTimedOut``/``ExecutionAborted``, read from
the drain's execution log). Consumer: AlertNotifierFunction, which also receives CloudWatch alarm
notifications on the same topic and tells them apart by the ``sluiceAlert`` field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

ALERT_FIELD = "sluiceAlert"  # the discriminator: present only in Sluice alerts
KINDS = frozenset(
    {"ObjectDeadLettered", "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"}
)


@dataclass(frozen=True)
class Alert:
    kind: str
    summary: str
    error: str = ""
    cause: str = ""
    bucket: str = ""
    key: str = ""
    execution: str = ""  # execution ARN
    execution_url: str = ""  # console link
    time: str = ""  # ISO 8601

    def to_message(self) -> str:
        return json.dumps(
            {
                ALERT_FIELD: self.kind,
                "summary": self.summary,
                "error": self.error,
                "cause": self.cause,
                "bucket": self.bucket,
                "key": self.key,
                "execution": self.execution,
                "executionUrl": self.execution_url,
                "time": self.time,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_message(cls, text: str) -> Alert | None:
        """The alert in an SNS message body, or None when the body is not a Sluice alert."""
        try:
            data: Any = json.loads(text)
        except (TypeError, ValueError):
            return None
        if not isinstance(data, dict) or not isinstance(data.get(ALERT_FIELD), str):
            return None

        # The drain state machine sends the object as {"object": {"bucket", "key", ...}} (null
        # for a message it could not parse) and Lambda's error JSON as the cause.
        given = data.get("object")
        obj: dict[str, Any] = given if isinstance(given, dict) else data

        execution = as_text(data.get("execution"))
        return cls(
            kind=data[ALERT_FIELD],
            summary=as_text(data.get("summary")) or data[ALERT_FIELD],
            error=as_text(data.get("error")),
            cause=readable_cause(as_text(data.get("cause"))),
            bucket=as_text(obj.get("bucket")),
            key=as_text(obj.get("key")),
            execution=execution,
            execution_url=as_text(data.get("executionUrl")) or execution_url(execution),
            time=as_text(data.get("time")),
        )


def as_text(value: Any) -> str:
    """A JSON value of an alert or alarm message as text: "" for null, numbers as written."""
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def readable_cause(cause: str) -> str:
    """Lambda's error payload ({"errorMessage": ..., "errorType": ...}) reduced to its message."""
    try:
        parsed = json.loads(cause)
    except ValueError:
        return cause
    if isinstance(parsed, dict) and isinstance(parsed.get("errorMessage"), str):
        return parsed["errorMessage"]
    return cause


def execution_url(execution_arn: str) -> str:
    """The console page of an execution (Express executions have their own page)."""
    parts = execution_arn.split(":")
    if len(parts) < 7 or parts[2] != "states":
        return ""
    region, kind = parts[3], parts[5]
    page = "express-executions" if kind == "express" else "executions"
    return (
        f"https://{region}.console.aws.amazon.com/states/home?region={region}"
        f"#/{page}/details/{quote(execution_arn, safe=':')}"
    )
