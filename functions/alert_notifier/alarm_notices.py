"""CloudWatch alarm notifications as notices: what the alarm watches and compares, its state
change and reason, a console link, and what to do (a dead-letter alarm: the redrive steps)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from notice_parts import (
    SUBJECT_PREFIX,
    Field,
    Link,
    Notice,
    Step,
    parse_json,
    present,
    redrive_steps,
)
from sluice_common.alerts import as_text

_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")


def alarm_in(message: str) -> dict[str, Any] | None:
    """The CloudWatch alarm notification in an SNS message body, or None when it is not one."""
    data = parse_json(message)
    if (
        isinstance(data, dict)
        and isinstance(data.get("AlarmName"), str)
        and isinstance(data.get("NewStateValue"), str)
    ):
        return data
    return None


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
    name = as_text(alarm.get("AlarmName")) or "(unnamed alarm)"
    state = as_text(alarm.get("NewStateValue")).upper()
    old = as_text(alarm.get("OldStateValue")).upper()
    trigger = alarm.get("Trigger")
    trigger = trigger if isinstance(trigger, dict) else {}
    alarm_region = _arn_region(as_text(alarm.get("AlarmArn"))) or region
    description = as_text(alarm.get("AlarmDescription"))

    what = [
        Field("Alarm", name),
        Field("State", f"{old} -> {state}" if old else state),
        Field("Changed at", as_text(alarm.get("StateChangeTime"))),
        Field("Description", description),
        Field("Rule", as_text(alarm.get("AlarmRule"))),  # composite alarms
        *_metric_fields(trigger),
        Field("Account", as_text(alarm.get("AWSAccountId"))),
        Field("Region", _region_label(alarm_region, as_text(alarm.get("Region")))),
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
        what=present(what),
        why=present([Field("Reason", as_text(alarm.get("NewStateReason")))]),
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
    operator = as_text(trigger.get("ComparisonOperator"))
    threshold = _number(trigger.get("Threshold"))
    periods = as_text(trigger.get("EvaluationPeriods"))
    datapoints = as_text(trigger.get("DatapointsToAlarm")) or periods
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
                subject = as_text(query.get("Label")) or as_text(query.get("Id")) or subject
                line += "  <- alarmed on"
            lines.append(line)
        fields.append(Field("Metrics", "\n".join(lines), preformatted=True))
    else:
        statistic = as_text(trigger.get("ExtendedStatistic")) or as_text(trigger.get("Statistic"))
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
        period = as_text(trigger.get("Period"))
        if period:
            subject += f" over {period} s"
    comparison = _OPERATORS.get(operator)
    if comparison is not None and threshold:
        condition = f"{subject} {comparison} {threshold}"
    elif operator in _BAND_OPERATORS:
        band = as_text(trigger.get("ThresholdMetricId")) or "the anomaly detection band"
        condition = f"{subject} {_BAND_OPERATORS[operator]} ({band})"
    else:
        condition = " ".join(part for part in (subject, operator, threshold) if part)
    if periods:
        condition += f", in {datapoints} of {periods} evaluation period(s)"
    fields.append(Field("Condition", condition))
    return fields


def _query_line(query: Mapping[str, Any]) -> str:
    ident = as_text(query.get("Id")) or "?"
    label = as_text(query.get("Label"))
    expression = as_text(query.get("Expression"))
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
            + f", {as_text(stat.get('Stat'))} over {as_text(stat.get('Period'))} s"
        )
    else:
        line = ident
    return f"{line} ({label})" if label else line


def _metric_line(namespace: Any, metric_name: Any, dimensions: Any) -> str:
    pairs = []
    for dimension in dimensions if isinstance(dimensions, list) else []:
        if isinstance(dimension, dict):
            # Alarm notifications spell the keys in lower case; the API in title case.
            key = as_text(dimension.get("name") or dimension.get("Name"))
            value = as_text(dimension.get("value") or dimension.get("Value"))
            pairs.append(f"{key}={value}")
    line = " ".join(part for part in (as_text(namespace), as_text(metric_name)) if part)
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
        steps += redrive_steps(stack)
    if "FunctionName" in dimensions:
        steps.append(
            Step(
                "The function's errors and their reasons are in its log group "
                f"/aws/lambda/{dimensions['FunctionName']}."
            )
        )
    if as_text(trigger.get("Namespace")) == "AWS/States":
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
                key = as_text(dimension.get("name") or dimension.get("Name"))
                found[key] = as_text(dimension.get("value") or dimension.get("Value"))
    return found


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return as_text(value)


def _arn_region(arn: str) -> str:
    parts = arn.split(":")
    return parts[3] if len(parts) > 4 and parts[0] == "arn" else ""


def _region_label(code: str, name: str) -> str:
    # Alarm notifications carry the region's long name ("US East (N. Virginia)"), not its code.
    if code and name and name != code:
        return f"{code} ({name})"
    return code or name
