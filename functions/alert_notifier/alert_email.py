"""Alerts on the alarm topic as emails, sent through the organisation's SMTP server.

Three kinds of SNS message arrive on the topic: CloudWatch alarm state changes, Sluice's own
alerts (``sluice_common.alerts.Alert``: a dead-lettered object, a failed drain execution) and
anything else someone publishes. Each becomes a :class:`Notice` (what happened, why, where to
look, what to do), rendered once as plain text and once as HTML, so both parts always say the
same thing.

Sending never falls back to plaintext: with STARTTLS required, a server that does not offer it
is refused before anything is sent, and a password is only ever sent over TLS. SMTP failures
become typed errors: :class:`TransientSmtpError` for what may pass (no connection, 4xx), the
others for what a person must fix (a password, a recipient, a certificate), each naming the
server and the secret involved.

Takes the TLS context and the connection factory as arguments; no AWS calls here.
"""

from __future__ import annotations

import html
import json
import re
import shlex
import smtplib
import ssl
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any
from urllib.parse import quote

from sluice_common.alerts import Alert
from sluice_common.errors import SluiceError

SUBJECT_PREFIX = "[Sluice]"
MAX_SUBJECT_CHARS = 200
MAX_FIELD_CHARS = 20_000  # a Step Functions cause can be 32 KB; an email is read, not parsed
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_MSGID_UNSAFE = re.compile(r"[^A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]")


# -- errors ------------------------------------------------------------------------------------
class SmtpError(SluiceError):
    """The alert email was not sent."""


class TransientSmtpError(SmtpError):
    """No connection, a dropped one, or a 4xx reply: Lambda's retries may get it through."""

    retryable = True


class SmtpRefused(SmtpError):
    """The server answered 5xx: the sender, every recipient or the message was refused."""


class SmtpAuthFailed(SmtpError):
    """The server refused the login, offers no AUTH where credentials are configured, or the
    credentials cannot be sent (not ASCII)."""


class SmtpInsecure(SmtpError):
    """TLS was required but is not available or not trusted: nothing is sent in plaintext."""


class SmtpMisconfigured(SmtpError):
    """The function's settings or the credentials secret are incomplete or invalid."""


class SmtpCredentialsUnavailable(SmtpError):
    """The credentials secret could not be read (missing, no permission, throttled)."""


# -- what the email says -----------------------------------------------------------------------
@dataclass(frozen=True)
class Field:
    label: str
    value: str
    preformatted: bool = False  # a cause or a JSON document: keep its lines as they are


@dataclass(frozen=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True)
class Step:
    text: str
    commands: tuple[str, ...] = ()


@dataclass(frozen=True)
class Notice:
    kind: str  # "CloudWatchAlarm", an Alert kind, or "Notification"
    subject: str
    headline: str
    severity: str  # "alarm", "ok" or "info": the colour of the headline
    what: tuple[Field, ...] = ()
    why: tuple[Field, ...] = ()
    where: tuple[Link, ...] = ()
    steps: tuple[Step, ...] = ()


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
    alarm = _alarm_in(message)
    if alarm is not None:
        return alarm_notice(alarm, region=region, stack=stack)
    return plain_notice(message, subject)


def _alarm_in(message: str) -> dict[str, Any] | None:
    try:
        data = json.loads(message)
    except (TypeError, ValueError):
        return None
    if (
        isinstance(data, dict)
        and isinstance(data.get("AlarmName"), str)
        and isinstance(data.get("NewStateValue"), str)
    ):
        return data
    return None


# -- CloudWatch alarms ---------------------------------------------------------------------------
_OPERATORS = {
    "GreaterThanOrEqualToThreshold": ">=",
    "GreaterThanThreshold": ">",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
}
_BAND_OPERATORS = {
    "LessThanLowerOrGreaterThanUpperThreshold": "outside the band",
    "LessThanLowerThreshold": "below the band",
    "GreaterThanUpperThreshold": "above the band",
}


def alarm_notice(alarm: Mapping[str, Any], *, region: str = "", stack: str = "") -> Notice:
    name = _text(alarm.get("AlarmName")) or "(unnamed alarm)"
    state = _text(alarm.get("NewStateValue")).upper()
    old = _text(alarm.get("OldStateValue")).upper()
    trigger = alarm.get("Trigger")
    trigger = trigger if isinstance(trigger, dict) else {}
    alarm_region = _arn_region(_text(alarm.get("AlarmArn"))) or region
    description = _text(alarm.get("AlarmDescription"))

    what = [
        Field("Alarm", name),
        Field("State", f"{old} -> {state}" if old else state),
        Field("Changed at", _text(alarm.get("StateChangeTime"))),
        Field("Description", description),
        Field("Rule", _text(alarm.get("AlarmRule"))),  # composite alarms
        *_metric_fields(trigger),
        Field("Account", _text(alarm.get("AWSAccountId"))),
        Field("Region", _region_label(alarm_region, _text(alarm.get("Region")))),
    ]
    where = []
    if _REGION.match(alarm_region):
        where.append(Link("The alarm in the CloudWatch console", alarm_url(alarm_region, name)))

    headline = {
        "ALARM": f"Alarm {name} is in ALARM",
        "OK": f"Alarm {name} is back to OK",
        "INSUFFICIENT_DATA": f"Alarm {name} has insufficient data",
    }.get(state, f"Alarm {name} is {state}")
    return Notice(
        kind="CloudWatchAlarm",
        subject=f"{SUBJECT_PREFIX} {state}: {name}",
        headline=headline,
        severity={"ALARM": "alarm", "OK": "ok"}.get(state, "info"),
        what=_present(what),
        why=_present([Field("Reason", _text(alarm.get("NewStateReason")))]),
        where=tuple(where),
        steps=_alarm_steps(name, state, trigger, stack),
    )


def alarm_url(region: str, name: str) -> str:
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#alarmsV2:alarm/{quote(name, safe='')}"
    )


def _metric_fields(trigger: Mapping[str, Any]) -> list[Field]:
    if not trigger:  # a composite alarm: its rule says what it watches
        return []
    operator = _text(trigger.get("ComparisonOperator"))
    threshold = _number(trigger.get("Threshold"))
    periods = _text(trigger.get("EvaluationPeriods"))
    datapoints = _text(trigger.get("DatapointsToAlarm")) or periods
    metrics = trigger.get("Metrics")
    fields: list[Field] = []
    if isinstance(metrics, list) and metrics:
        # Metric math: the alarm compares the query with ReturnData true to the threshold.
        lines, subject = [], "the expression"
        for query in metrics:
            if not isinstance(query, dict):
                continue
            line = _query_line(query)
            if query.get("ReturnData") is True:
                subject = _text(query.get("Label")) or _text(query.get("Id")) or subject
                line += "  <- alarmed on"
            lines.append(line)
        fields.append(Field("Metrics", "\n".join(lines), preformatted=True))
    else:
        statistic = _text(trigger.get("ExtendedStatistic")) or _text(trigger.get("Statistic"))
        # Notifications spell statistics in capitals (MAXIMUM); percentiles as p99.
        statistic = statistic.capitalize() if statistic.isupper() else statistic
        subject = f"{statistic} of the metric" if statistic else "The metric"
        fields.append(
            Field(
                "Metric",
                _metric_line(
                    trigger.get("Namespace"), trigger.get("MetricName"), trigger.get("Dimensions")
                ),
            )
        )
        period = _text(trigger.get("Period"))
        if period:
            subject += f" over {period} s"
    comparison = _OPERATORS.get(operator)
    if comparison is not None and threshold:
        condition = f"{subject} {comparison} {threshold}"
    elif operator in _BAND_OPERATORS:
        band = _text(trigger.get("ThresholdMetricId")) or "the anomaly detection band"
        condition = f"{subject} {_BAND_OPERATORS[operator]} ({band})"
    else:
        condition = " ".join(part for part in (subject, operator, threshold) if part)
    if periods:
        condition += f", in {datapoints} of {periods} evaluation period(s)"
    fields.append(Field("Condition", condition))
    return fields


def _query_line(query: Mapping[str, Any]) -> str:
    ident = _text(query.get("Id")) or "?"
    label = _text(query.get("Label"))
    expression = _text(query.get("Expression"))
    stat = query.get("MetricStat") if isinstance(query.get("MetricStat"), dict) else None
    if expression:
        line = f"{ident} = {expression}"
    elif stat is not None:
        metric = stat.get("Metric") if isinstance(stat.get("Metric"), dict) else {}
        line = (
            f"{ident}: "
            + _metric_line(
                metric.get("Namespace"), metric.get("MetricName"), metric.get("Dimensions")
            )
            + f", {_text(stat.get('Stat'))} over {_text(stat.get('Period'))} s"
        )
    else:
        line = ident
    return f"{line} ({label})" if label else line


def _metric_line(namespace: Any, metric_name: Any, dimensions: Any) -> str:
    pairs = []
    for dimension in dimensions if isinstance(dimensions, list) else []:
        if isinstance(dimension, dict):
            # Alarm notifications spell the keys in lower case; the API in title case.
            key = _text(dimension.get("name") or dimension.get("Name"))
            value = _text(dimension.get("value") or dimension.get("Value"))
            pairs.append(f"{key}={value}")
    line = " ".join(part for part in (_text(namespace), _text(metric_name)) if part)
    return f"{line} ({', '.join(pairs)})" if pairs else line


def _alarm_steps(name: str, state: str, trigger: Mapping[str, Any], stack: str) -> tuple[Step, ...]:
    if state == "OK":
        return (Step("Nothing to do: the alarm recovered by itself."),)
    if state == "INSUFFICIENT_DATA":
        return (
            Step(
                "The alarm has no data to judge by: check that the resource it watches still "
                "exists and reports the metric (a deleted queue or function reports nothing)."
            ),
        )
    dimensions = _dimension_values(trigger)
    steps = [Step("Read the alarm's description above: it says what it watches and why.")]
    if "deadletter" in name.lower().replace("-", "") or any(
        "deadletter" in value.lower().replace("-", "") for value in dimensions.values()
    ):
        steps += _redrive_steps(stack)
    if "FunctionName" in dimensions:
        steps.append(
            Step(
                "The function's errors and their reasons are in its log group "
                f"/aws/lambda/{dimensions['FunctionName']}."
            )
        )
    if _text(trigger.get("Namespace")) == "AWS/States":
        steps.append(
            Step(
                "Each failed drain execution is also emailed on its own, with its error, cause "
                "and a link to the execution."
            )
        )
    return tuple(steps)


def _dimension_values(trigger: Mapping[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    lists = [trigger.get("Dimensions")]
    for query in trigger.get("Metrics") or []:
        if isinstance(query, dict) and isinstance(query.get("MetricStat"), dict):
            metric = query["MetricStat"].get("Metric")
            lists.append(metric.get("Dimensions") if isinstance(metric, dict) else None)
    for dimensions in lists:
        for dimension in dimensions if isinstance(dimensions, list) else []:
            if isinstance(dimension, dict):
                key = _text(dimension.get("name") or dimension.get("Name"))
                found[key] = _text(dimension.get("value") or dimension.get("Value"))
    return found


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
_REDRIVE_FUTILE = frozenset({"EmptyObject", "NotCsv", "ObjectNotFound", "MalformedEvent"})

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
        steps += _redrive_steps(stack, key=alert.key, error="" if over_cap else alert.error)
        return Notice(
            kind=alert.kind,
            subject=f"{SUBJECT_PREFIX} Object dead-lettered: {location or alert.summary}",
            headline=headline,
            severity="alarm",
            what=_present(
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
            what=_present(
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
        what=_present(
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
            (_redrive_command(stack, "list"),),
        )
    )
    return tuple(steps)


def _redrive_steps(stack: str, *, key: str = "", error: str = "") -> list[Step]:
    steps = [
        Step(
            "Read the dead letters and their reasons:",
            (_redrive_command(stack, "list"),),
        )
    ]
    if error in _REDRIVE_FUTILE:
        return steps  # the advice says what to do instead; the list shows what is waiting
    if key:
        steps.append(
            Step(
                "Once the cause is fixed, send this object back to be processed (the first "
                "command shows what the second would send):",
                (
                    _redrive_command(stack, "redrive", "--contains", key, "--dry-run"),
                    _redrive_command(stack, "redrive", "--contains", key),
                ),
            )
        )
    elif error:
        steps.append(
            Step(
                "Once the cause is fixed, redrive every dead letter with this error:",
                (_redrive_command(stack, "redrive", "--error", error),),
            )
        )
    else:
        steps.append(
            Step(
                "Once the cause is fixed, redrive them (filter with --error or --contains):",
                (
                    _redrive_command(stack, "redrive", "--dry-run"),
                    _redrive_command(stack, "redrive"),
                ),
            )
        )
    return steps


def _redrive_command(stack: str, *arguments: str) -> str:
    # Quoted: keys and error names come from the message, and people paste commands.
    stack_argument = shlex.quote(stack) if stack else "<stack-name>"
    return " ".join(
        ["sluice-redrive", "--stack", stack_argument, *(shlex.quote(a) for a in arguments)]
    )


def _cause_fields(error: str, cause: str) -> tuple[Field, ...]:
    fields = [Field("Error", error)]
    parsed = _json(cause)
    if isinstance(parsed, dict) and isinstance(parsed.get("errorMessage"), str):
        # A Lambda error: its message first, the rest (type, trace) below it.
        fields.append(Field("Message", _clip(parsed["errorMessage"])))
    if isinstance(parsed, (dict, list)):
        fields.append(
            Field(
                "Cause",
                _clip(json.dumps(parsed, indent=2, ensure_ascii=False)),
                preformatted=True,
            )
        )
    else:
        fields.append(Field("Cause", _clip(cause), preformatted="\n" in cause))
    return _present(fields)


# -- anything else -------------------------------------------------------------------------------
def plain_notice(message: str, subject: str | None) -> Notice:
    first_line = next((line.strip() for line in message.splitlines() if line.strip()), "")
    title = (subject or "").strip() or first_line or "Notification"
    parsed = _json(message)
    body = json.dumps(parsed, indent=2, ensure_ascii=False) if parsed is not None else message
    return Notice(
        kind="Notification",
        subject=f"{SUBJECT_PREFIX} {title}",
        headline=title,
        severity="info",
        what=(Field("Message", _clip(body), preformatted=True),),
        steps=(
            Step(
                "This message is neither a CloudWatch alarm nor a Sluice alert: whoever "
                "published it to the alarm topic knows what it means."
            ),
        ),
    )


# -- rendering -----------------------------------------------------------------------------------
def build_email(
    notice: Notice,
    *,
    sender: str,
    recipients: Sequence[str],
    unique_id: str | None = None,
    date: datetime | None = None,
    footer: str = "",
) -> EmailMessage:
    """The email for ``notice``: plain text first, the HTML alternative second.

    ``unique_id`` (e.g. the SNS message id) makes the Message-ID: a retried delivery of the
    same message carries the same Message-ID, and mail clients fold the duplicates.
    """
    message = EmailMessage()
    message["Subject"] = _one_line(notice.subject, MAX_SUBJECT_CHARS)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(date or datetime.now(UTC))
    message["Message-ID"] = (
        f"<{_MSGID_UNSAFE.sub('-', unique_id)}@{_domain(sender)}>"
        if unique_id
        else make_msgid(domain=_domain(sender))
    )
    # RFC 3834: vacation responders and ticket systems must not answer an alert.
    message["Auto-Submitted"] = "auto-generated"
    message["X-Sluice-Alert"] = _one_line(notice.kind, 100)
    message.set_content(render_text(notice, footer))
    message.add_alternative(render_html(notice, footer), subtype="html")
    return message


def render_text(notice: Notice, footer: str = "") -> str:
    lines = [notice.headline, ""]
    for title, fields in (("What happened", notice.what), ("Why", notice.why)):
        if fields:
            lines += [title, *_text_fields(fields), ""]
    if notice.where:
        lines += ["Where", *(f"  {link.label}:\n    {link.url}" for link in notice.where), ""]
    if notice.steps:
        lines.append("What to do")
        for number, step in enumerate(notice.steps, 1):
            lines.append(f"  {number}. {step.text}")
            lines += [f"       $ {command}" for command in step.commands]
        lines.append("")
    if footer:
        lines += ["-- ", footer]
    return "\n".join(lines).rstrip("\n") + "\n"


def _text_fields(fields: Iterable[Field]) -> list[str]:
    lines = []
    for item in fields:
        if item.preformatted or "\n" in item.value:
            lines.append(f"  {item.label}:")
            lines += [f"    {line}" for line in item.value.splitlines()]
        else:
            lines.append(f"  {item.label}: {item.value}")
    return lines


_COLOURS = {"alarm": "#b3261e", "ok": "#1e7b34", "info": "#1f4e99"}
_CELL = "padding:2px 12px 2px 0;vertical-align:top"
_PRE = (
    "margin:0;padding:6px;background:#f4f4f4;white-space:pre-wrap;"
    "font-family:Menlo,Consolas,monospace;font-size:12px"
)


def render_html(notice: Notice, footer: str = "") -> str:
    e = html.escape
    colour = _COLOURS.get(notice.severity, _COLOURS["info"])
    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8"></head>',
        '<body style="font-family:Arial,Helvetica,sans-serif;font-size:14px;color:#222">',
        f'<h2 style="color:{colour};margin:0 0 12px">{e(notice.headline)}</h2>',
    ]
    for title, fields in (("What happened", notice.what), ("Why", notice.why)):
        if fields:
            parts.append(f"<h3>{e(title)}</h3>")
            parts.append('<table style="border-collapse:collapse">')
            for item in fields:
                value = (
                    f'<pre style="{_PRE}">{e(item.value)}</pre>'
                    if item.preformatted
                    else e(item.value)
                )
                parts.append(
                    f'<tr><th style="{_CELL};text-align:left">{e(item.label)}</th>'
                    f'<td style="{_CELL}">{value}</td></tr>'
                )
            parts.append("</table>")
    if notice.where:
        parts.append("<h3>Where</h3><ul>")
        parts += [
            f'<li><a href="{e(link.url, quote=True)}">{e(link.label)}</a></li>'
            for link in notice.where
        ]
        parts.append("</ul>")
    if notice.steps:
        parts.append("<h3>What to do</h3><ol>")
        for step in notice.steps:
            commands = "".join(
                f'<pre style="{_PRE}">$ {e(command)}</pre>' for command in step.commands
            )
            parts.append(f"<li>{e(step.text)}{commands}</li>")
        parts.append("</ol>")
    if footer:
        parts.append(f'<hr><p style="color:#666;font-size:12px">{e(footer)}</p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


# -- sending -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    starttls: bool = True  # ignored with implicit_tls, where the whole connection is TLS
    implicit_tls: bool = False  # port 465 (SMTPS)
    timeout_s: float = 10.0
    credentials_secret: str = ""  # named in errors so a person knows where to look

    @property
    def server(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class SendReport:
    sent: int
    # Recipients refused while others took the message: {recipient: "code reply"}.
    refused: dict[str, str] = field(default_factory=dict)


Connect = Callable[[SmtpSettings, ssl.SSLContext], smtplib.SMTP]


def connect(settings: SmtpSettings, context: ssl.SSLContext) -> smtplib.SMTP:
    if settings.implicit_tls:
        return smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=settings.timeout_s, context=context
        )
    return smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_s)


def send_emails(
    messages: Sequence[EmailMessage],
    settings: SmtpSettings,
    context: ssl.SSLContext,
    credentials: Credentials | None = None,
    connect: Connect = connect,
) -> SendReport:
    """Send every message in one SMTP session: TLS first (STARTTLS or implicit), then login.

    Raises a :class:`SmtpError` subclass; a failure mid-batch leaves the earlier messages sent
    (a retry sends them again: SNS delivers one record per event in practice).
    """
    encrypted = settings.implicit_tls or settings.starttls
    if credentials is not None and not encrypted:
        raise SmtpInsecure(
            f"SMTP_STARTTLS is false for {settings.server}: refusing to send the password from "
            f"secret {settings.credentials_secret} in plaintext (use STARTTLS or port 465)"
        )
    if not messages:
        return SendReport(sent=0)
    doing = "connecting"
    try:
        smtp = connect(settings, context)
    except Exception as exc:
        raise _failure(exc, settings, doing, credentials) from exc
    refused: dict[str, str] = {}
    sent = 0
    try:
        doing = "saying EHLO"
        smtp.ehlo()
        if not settings.implicit_tls and settings.starttls:
            if not smtp.has_extn("starttls"):
                raise SmtpInsecure(
                    f"SMTP server {settings.server} does not offer STARTTLS and SMTP_STARTTLS "
                    "is true: refusing to send alerts in plaintext (enable STARTTLS on the "
                    "server, or use port 465 for implicit TLS)"
                )
            doing = "starting TLS"
            smtp.starttls(context=context)
            smtp.ehlo()
        if credentials is not None:
            doing = "logging in"
            smtp.login(credentials.username, credentials.password)
        for message in messages:
            doing = f"sending {message['Subject']!r}"
            for recipient, (code, reply) in smtp.send_message(message).items():
                refused[recipient] = f"{code} {_reply(reply)}"
            sent += 1
    except Exception as exc:
        with suppress(OSError):
            smtp.close()
        raise _failure(exc, settings, doing, credentials) from exc
    with suppress(smtplib.SMTPException, OSError):
        # Everything was accepted: a server that drops the line at QUIT changes nothing.
        smtp.quit()
    return SendReport(sent=sent, refused=refused)


def _failure(
    exc: Exception, settings: SmtpSettings, doing: str, credentials: Credentials | None
) -> SmtpError:
    server = settings.server
    secret = settings.credentials_secret or "(none configured)"
    if isinstance(exc, SmtpError):
        return exc
    if isinstance(exc, ssl.SSLCertVerificationError):
        return SmtpInsecure(
            f"the TLS certificate of SMTP server {server} is not trusted "
            f"({exc.verify_message}): if the server uses a private CA, set SMTP_CA_FILE to "
            "its CA bundle"
        )
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        replies = {rcpt: f"{code} {_reply(text)}" for rcpt, (code, text) in exc.recipients.items()}
        if all(400 <= code < 500 for code, _ in exc.recipients.values()):
            return TransientSmtpError(
                f"SMTP server {server} deferred every recipient: {replies}; retrying later"
            )
        return SmtpRefused(
            f"SMTP server {server} refused every recipient: {replies}; check ALERT_RECIPIENTS"
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = f"{exc.smtp_code} {_reply(exc.smtp_error)}"
        if 400 <= exc.smtp_code < 500:
            return TransientSmtpError(
                f"SMTP server {server} answered {reply} while {doing}: retrying later"
            )
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            user = credentials.username if credentials else "?"
            return SmtpAuthFailed(
                f"SMTP server {server} refused the login of {user!r} ({reply}): check the "
                f"username and password in secret {secret}"
            )
        if isinstance(exc, smtplib.SMTPSenderRefused):
            return SmtpRefused(
                f"SMTP server {server} refused the sender {exc.sender!r} ({reply}): check "
                "ALERT_FROM (relays often accept only their own domains)"
            )
        return SmtpRefused(f"SMTP server {server} answered {reply} while {doing}")
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return TransientSmtpError(f"SMTP server {server} closed the connection while {doing}")
    if isinstance(exc, smtplib.SMTPException):
        # No reply code: smtplib found the server lacking (no AUTH, no usable mechanism).
        if doing == "logging in":
            return SmtpAuthFailed(
                f"SMTP server {server} cannot take the login from secret {secret} ({exc}): "
                "remove SMTP_CREDENTIALS_SECRET_ARN if the server relays without login"
            )
        return SmtpRefused(f"SMTP server {server} failed while {doing}: {exc}")
    if isinstance(exc, ValueError) and doing == "logging in":
        # smtplib encodes the login as ASCII and its UnicodeEncodeError quotes a character of
        # the password: name the secret and the problem only.
        return SmtpAuthFailed(
            f"SMTP server {server} was not sent the login from secret {secret}: the username "
            f"or password cannot be encoded ({type(exc).__name__}); SMTP AUTH takes ASCII only"
        )
    if isinstance(exc, OSError):
        # Timeouts, refused connections, DNS failures, TLS handshakes cut short.
        return TransientSmtpError(f"SMTP server {server}: connection failed while {doing}: {exc}")
    raise exc


# -- small helpers -------------------------------------------------------------------------------
def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return _text(value)


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None


def _present(fields: Iterable[Field]) -> tuple[Field, ...]:
    return tuple(item for item in fields if item.value)


def _clip(text: str, limit: int = MAX_FIELD_CHARS) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n... ({len(text) - limit} more characters)"


def _one_line(text: str, limit: int) -> str:
    # Header values may not hold line breaks (the email package refuses them).
    flat = " ".join(_CONTROL.sub(" ", text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _reply(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())


def _arn_region(arn: str) -> str:
    parts = arn.split(":")
    return parts[3] if len(parts) > 4 and parts[0] == "arn" else ""


def _region_label(code: str, name: str) -> str:
    # Alarm notifications carry the region's long name ("US East (N. Virginia)"), not its code.
    if code and name and name != code:
        return f"{code} ({name})"
    return code or name


def _is_https(url: str) -> bool:
    # The link comes from a message anyone allowed to publish could write: no javascript: URLs.
    return url.startswith("https://")


def _domain(address: str) -> str:
    domain = parseaddr(address)[1].rpartition("@")[2]
    return domain or "sluice.invalid"
