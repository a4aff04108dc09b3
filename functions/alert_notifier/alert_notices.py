"""Every message on the alarm topic as a notice: CloudWatch alarms (alarm_notices.py), Sluice's
own alerts (``sluice_common.alerts.Alert``: a dead-lettered object, a failed drain execution)
and anything else someone publishes, each with what happened, why, where to look and what to
do."""

from __future__ import annotations

import json

from alarm_notices import alarm_in, alarm_notice
from notice_parts import (
    SUBJECT_PREFIX,
    Field,
    Link,
    Notice,
    Step,
    clip,
    parse_json,
    present,
    redrive_command,
    redrive_steps,
)
from sluice_common.alerts import Alert


def notice_for(
    message: str, subject: str | None = None, *, region: str = "", stack: str = ""
) -> Notice:
    """The notice for one SNS message body (``subject``: the SNS Subject, if any).

    ``region`` is the fallback for console links when the message names none; ``stack`` the
    CloudFormation stack name the ``sluice-redrive`` commands need.
    """
    alert = Alert.from_message(message)
    if alert is not None:
        return alert_notice(alert, stack=stack)
    alarm = alarm_in(message)
    if alarm is not None:
        return alarm_notice(alarm, region=region, stack=stack)
    return plain_notice(message, subject)


# -- Sluice's own alerts -------------------------------------------------------------------------
_ERROR_ADVICE = {
    "EmptyObject": "The object itself is empty: replace it in S3 (a new upload is processed "
    "on its own). Redriving the same object fails the same way.",
    "NotCsv": "The object itself is not CSV Sluice can read: fix or replace it in S3 (a new "
    "upload is processed on its own). Redriving the same object fails the same way.",
    "ObjectNotFound": "The object was deleted before it was processed: there is nothing to "
    "redrive unless it is uploaded again.",
    "AccessDenied": "ProcessObjectFunction's role may not read the object: grant s3:GetObject "
    "(and kms:Decrypt for an SSE-KMS key), then redrive it.",
    "RowsFailed": "Some rows were refused downstream or unreadable (the cause lists them): fix "
    "the cause, then redrive the object. Only its failed rows are sent again.",
    "NoProgress": "The object kept running out of time before one request could fit (the cause "
    "says where it stands): raise FunctionTimeout or ScaleCooldownSeconds, or lower "
    "DownstreamTimeoutSeconds, redeploy, then redrive it: it resumes from its checkpoint.",
    "MalformedEvent": "The message is not an S3 event Sluice understands: fix its producer. "
    "Redriving the same message fails the same way.",
}

# A NotCsv over one of the hostile-input caps (CsvMaxColumns, CsvMaxRecordBytes, GzipMaxRatio,
# GzipMaxBytes) names the parameter and this hint: an honest object redriven after raising the
# cap is processed, so the redrive steps are shown.
_CAP_HINT = "raise it with --parameter-overrides"
_OVER_CAP_ADVICE = (
    "The object is over one of Sluice's caps on what one object may cost (the cause names the "
    "parameter). If the object is genuine, raise that parameter and redeploy, then redrive it; "
    "otherwise replace it in S3."
)

# Errors of the object or message itself: the same object redriven fails the same way.

_EXECUTION_HEADLINES = {
    "ExecutionFailed": "A drain execution failed",
    "ExecutionTimedOut": "A drain execution timed out",
    "ExecutionAborted": "A drain execution was aborted",
}


def alert_notice(alert: Alert, *, stack: str = "") -> Notice:
    where = []
    if _is_https(alert.execution_url):
        where.append(Link("The execution in the Step Functions console", alert.execution_url))
    why = _cause_fields(alert.error, alert.cause)
    if alert.kind == "ObjectDeadLettered":
        location = f"s3://{alert.bucket}/{alert.key}" if alert.bucket else ""
        # The drain's summary is generic ("An object was dead-lettered"): say which and why.
        headline = f"{location or 'An object'} was dead-lettered"
        headline += f": {alert.error}" if alert.error else ""
        over_cap = alert.error == "NotCsv" and _CAP_HINT in alert.cause
        advice = _OVER_CAP_ADVICE if over_cap else _ERROR_ADVICE.get(alert.error)
        steps = [Step(advice)] if advice else []
        steps += redrive_steps(stack, key=alert.key, error="" if over_cap else alert.error)
        return Notice(
            kind=alert.kind,
            subject=f"{SUBJECT_PREFIX} Object dead-lettered: {location or alert.summary}",
            headline=headline,
            severity="alarm",
            what=present(
                [
                    Field("Object", location),
                    Field("Error", alert.error),
                    Field("At", alert.time),
                    Field("Drain execution", alert.execution),
                ]
            ),
            why=why,
            where=tuple(where),
            steps=tuple(steps),
        )
    if alert.kind in _EXECUTION_HEADLINES:
        short = _EXECUTION_HEADLINES[alert.kind].removeprefix("A drain execution ")
        subject = f"{SUBJECT_PREFIX} Drain execution {short}"
        return Notice(
            kind=alert.kind,
            subject=f"{subject}: {alert.error}" if alert.error else subject,
            headline=alert.summary or _EXECUTION_HEADLINES[alert.kind],
            severity="alarm",
            what=present(
                [
                    Field("Event", alert.kind),
                    Field("Execution", alert.execution),
                    Field("At", alert.time),
                ]
            ),
            why=why,
            where=tuple(where),
            steps=_execution_steps(alert, stack),
        )
    return Notice(
        kind=alert.kind,
        subject=f"{SUBJECT_PREFIX} {alert.kind}: {alert.summary}",
        headline=alert.summary or alert.kind,
        severity="alarm",
        what=present(
            [
                Field("Alert", alert.kind),
                Field("Object", f"s3://{alert.bucket}/{alert.key}" if alert.bucket else ""),
                Field("Execution", alert.execution),
                Field("At", alert.time),
            ]
        ),
        why=why,
        where=tuple(where),
    )


def _execution_steps(alert: Alert, stack: str) -> tuple[Step, ...]:
    steps = [
        Step(
            "Open the execution (link above) to see which state failed. Messages the drain "
            "held go back to ObjectQueue when their visibility timeout ends and the next "
            "scheduled drain takes them: nothing is lost."
        )
    ]
    if alert.kind == "ExecutionTimedOut":
        steps.append(
            Step(
                "A drain hands over before the Express 5-minute limit; a timeout means a step "
                "took far longer than planned (a slow downstream, a large object)."
            )
        )
    elif alert.kind == "ExecutionAborted":
        steps.append(Step("Check whether someone stopped it or a deployment replaced it."))
    steps.append(
        Step(
            "If every drain fails the same way, fix the cause: messages that keep failing "
            "reach the dead-letter queue after MaxReceiveCount receives. See them with:",
            (redrive_command(stack, "list"),),
        )
    )
    return tuple(steps)


def _cause_fields(error: str, cause: str) -> tuple[Field, ...]:
    fields = [Field("Error", error)]
    parsed = parse_json(cause)
    if isinstance(parsed, dict) and isinstance(parsed.get("errorMessage"), str):
        # A Lambda error: its message first, the rest (type, trace) below it.
        fields.append(Field("Message", clip(parsed["errorMessage"])))
    if isinstance(parsed, (dict, list)):
        fields.append(
            Field(
                "Cause",
                clip(json.dumps(parsed, indent=2, ensure_ascii=False)),
                preformatted=True,
            )
        )
    else:
        fields.append(Field("Cause", clip(cause), preformatted="\n" in cause))
    return present(fields)


# -- anything else -------------------------------------------------------------------------------
def plain_notice(message: str, subject: str | None) -> Notice:
    first_line = next((line.strip() for line in message.splitlines() if line.strip()), "")
    title = (subject or "").strip() or first_line or "Notification"
    parsed = parse_json(message)
    body = json.dumps(parsed, indent=2, ensure_ascii=False) if parsed is not None else message
    return Notice(
        kind="Notification",
        subject=f"{SUBJECT_PREFIX} {title}",
        headline=title,
        severity="info",
        what=(Field("Message", clip(body), preformatted=True),),
        steps=(
            Step(
                "This message is neither a CloudWatch alarm nor a Sluice alert: whoever "
                "published it to the alarm topic knows what it means."
            ),
        ),
    )


def _is_https(url: str) -> bool:
    # The link comes from a message anyone allowed to publish could write: no javascript: URLs.
    return url.startswith("https://")
