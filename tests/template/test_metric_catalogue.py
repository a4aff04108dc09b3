"""The metric catalogue (sluice_common.metric_catalogue) and everything that names a metric agree,
both ways: template.yaml's alarms and dashboards name only catalogued metrics; the functions emit
only catalogued names, in the catalogue's units, and log only catalogued Dynatrace keys; and every
catalogue entry is emitted or read by something."""

from __future__ import annotations

import ast
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from sluice_local.handlers import layer_python_dir

ROOT = Path(__file__).resolve().parents[2]
_LAYER = str(layer_python_dir(ROOT / "layers/common"))
if _LAYER not in sys.path:
    sys.path.insert(0, _LAYER)

from sluice_common import metric_catalogue as catalogue  # noqa: E402

TEMPLATE = yaml_parse((ROOT / "template.yaml").read_text())
GLOBALS = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
PLACEHOLDER = re.compile(r"\$\{[^}]+\}")
# Metric math that names metrics itself (SEARCH, SELECT ... FROM) rather than query ids.
NAMED_IN_MATH = re.compile(r"""MetricName\s*=\s*["']?([A-Za-z0-9_.-]+)|FROM\s+"?([A-Za-z0-9_/]+)""")
Named = tuple[str | None, str]  # (namespace, None for the pipeline's own; metric name)


def _namespace(value: Any) -> str | None:
    """A template namespace as the catalogue spells it (None: the pipeline's own)."""
    assert isinstance(value, str), f"namespace {value!r}: name it literally"
    return None if value == GLOBALS["POWERTOOLS_METRICS_NAMESPACE"] else value


def _sub_text(value: Any) -> str:
    """The text of a DashboardBody (!Sub "..." or !Sub ["...", {...}]), placeholders filled."""
    text = value["Fn::Sub"] if isinstance(value, dict) else value
    text = text[0] if isinstance(text, list) else text
    return PLACEHOLDER.sub("x", text)


def alarm_metrics(template: dict[str, Any]) -> Iterator[tuple[str, Named]]:
    """(where, metric) of every alarm: its MetricName, its metric queries and its metric math."""
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        props = resource["Properties"]
        if "MetricName" in props:
            yield logical_id, (_namespace(props["Namespace"]), props["MetricName"])
        for query in props.get("Metrics", []):
            metric = query.get("MetricStat", {}).get("Metric")
            if metric:
                yield logical_id, (_namespace(metric["Namespace"]), metric["MetricName"])
            for found in NAMED_IN_MATH.findall(str(query.get("Expression", ""))):
                yield logical_id, (None, next(part for part in found if part))


def dashboard_metrics(template: dict[str, Any]) -> Iterator[tuple[str, Named]]:
    """(where, metric) of every CloudWatch dashboard widget's metrics, with "." and "..."
    (the previous row's value, the previous row's leading values) resolved."""
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::CloudWatch::Dashboard":
            continue
        body = json.loads(_sub_text(resource["Properties"]["DashboardBody"]))
        for widget in body["widgets"]:
            previous: list[Any] = []
            for row in widget.get("properties", {}).get("metrics", []):
                if isinstance(row[0], dict):  # an expression row: [{"expression": ...}]
                    for found in NAMED_IN_MATH.findall(str(row[0].get("expression", ""))):
                        yield logical_id, (None, next(part for part in found if part))
                    continue
                if row[0] == "...":
                    row = previous[: len(previous) - len(row) + 1] + row[1:]
                row = [previous[n] if value == "." else value for n, value in enumerate(row)]
                previous = [value for value in row if not isinstance(value, dict)]
                yield logical_id, (_namespace(row[0]), row[1])


def template_metrics(template: dict[str, Any]) -> set[Named]:
    return {named for _, named in [*alarm_metrics(template), *dashboard_metrics(template)]}


def _strings(node: ast.AST) -> list[str]:
    """The string constants an argument can take (a literal, or each side of an if/else)."""
    return [
        n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    ]


def emitted_in_functions() -> tuple[dict[str, set[str]], set[str]]:
    """Every ``add_metric`` name (with the units it is emitted in) and every ``dt_metrics``
    keyword in the functions' and the layer's source.

    A name passed as a variable (a constant, a table of names) resolves to the string constants
    of the same module that the catalogue knows; ``dt_metrics(**counts)`` likewise."""
    known = {m.name for m in catalogue.METRICS}
    known_keys = {m.name for m in catalogue.LOG_METRICS}
    names: dict[str, set[str]] = {}
    log_keys: set[str] = set()
    layer = ROOT / "layers/common/python/sluice_common"
    sources = [*(ROOT / "functions").rglob("*.py"), *layer.glob("*.py")]
    for path in sorted(
        p for p in sources if p.name not in ("metric_catalogue.py", "observability.py")
    ):
        tree = ast.parse(path.read_text(), str(path))
        constants = set(_strings(tree))
        for call in ast.walk(tree):
            if not isinstance(call, ast.Call):
                continue
            func = call.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            args = {k.arg: k.value for k in call.keywords if k.arg}
            if called == "add_metric":
                unit = args["unit"]
                unit_name = unit.attr if isinstance(unit, ast.Attribute) else _strings(unit)[0]
                given = _strings(args["name"]) or sorted(constants & known)
                for name in given:
                    names.setdefault(name, set()).add(unit_name)
            elif called == "dt_metrics":
                log_keys |= set(args)
                if any(k.arg is None for k in call.keywords):  # dt_metrics(**counts)
                    log_keys |= constants & known_keys
    return names, log_keys


def test_the_pipeline_namespace_and_service_are_the_templates() -> None:
    assert GLOBALS["POWERTOOLS_METRICS_NAMESPACE"] == catalogue.PIPELINE_NAMESPACE
    assert GLOBALS["POWERTOOLS_SERVICE_NAME"] == catalogue.PIPELINE_SERVICE


def test_every_metric_the_template_names_is_catalogued() -> None:
    found = [*alarm_metrics(TEMPLATE), *dashboard_metrics(TEMPLATE)]
    assert len(found) > 40  # the alarms and the three dashboards were read
    known = {(m.namespace, m.name) for m in catalogue.METRICS}
    missing = sorted(f"{where}: {ns or 'pipeline'}/{name}" for where, (ns, name) in found
                     if (ns, name) not in known)  # fmt: skip
    assert missing == [], "add these to sluice_common/metric_catalogue.py"


def test_every_metric_the_functions_emit_is_catalogued_in_its_unit() -> None:
    emitted, log_keys = emitted_in_functions()
    assert len(emitted) > 20 and len(log_keys) > 10  # the source was read
    for name, units in emitted.items():
        assert units == {catalogue.metric(name).unit}, name
    assert log_keys <= {m.name for m in catalogue.LOG_METRICS}


def named_in_code() -> set[str]:
    """Catalogued names the functions and the layer spell (passed on to an emitter, as
    ``passed(payment, "PaymentsValidated", ...)`` does)."""
    layer = ROOT / "layers/common/python/sluice_common"
    sources = [*(ROOT / "functions").rglob("*.py"), *layer.glob("*.py")]
    spelled: set[str] = set()
    for path in sources:
        if path.name not in ("metric_catalogue.py", "observability.py"):
            spelled |= set(_strings(ast.parse(path.read_text(), str(path))))
    return spelled & {m.name for m in catalogue.METRICS}


def test_every_catalogue_entry_is_emitted_or_read() -> None:
    emitted, log_keys = emitted_in_functions()
    spelled = named_in_code()
    read = template_metrics(TEMPLATE) | {(m.namespace, m.name) for m in catalogue.SYNCED}
    for entry in catalogue.METRICS:
        if entry.namespace is None:  # the pipeline's own: some function must emit it
            assert entry.name in emitted or entry.name in spelled, f"{entry.name}: emitted nowhere"
        else:  # an AWS metric: an alarm, a dashboard or the sync reads it
            assert (entry.namespace, entry.name) in read, f"{entry.name}: read by nothing"
    unused = {m.name for m in catalogue.LOG_METRICS} - log_keys
    assert unused == set(), "catalogued log metrics no function logs"


def test_the_checks_see_a_renamed_metric_either_way() -> None:
    # A dashboard naming a metric that was renamed in the code is caught...
    renamed = json.loads(json.dumps(TEMPLATE).replace('\\"RowsSent\\"', '\\"RowSent\\"'))
    assert (None, "RowSent") in template_metrics(renamed)
    assert (None, "RowsSent") in template_metrics(TEMPLATE)
    # ... and so is an alarm whose MetricName was.
    alarms = json.loads(json.dumps(TEMPLATE).replace('"FailedEvents"', '"FailedEvent"'))
    assert (None, "FailedEvent") in {named for _, named in alarm_metrics(alarms)}


def test_synced_entries_are_valid_and_unique() -> None:
    keys = [m.key for m in catalogue.SYNCED]
    assert len(keys) == len(set(keys))
    names = [(m.namespace, m.name) for m in catalogue.METRICS]
    assert len(names) == len(set(names))
    assert all(m.description and m.unit for m in catalogue.METRICS)


# -- the emitters refuse what the catalogue lacks -----------------------------------------------
def test_metrics_refuses_a_name_or_unit_the_catalogue_lacks() -> None:
    from aws_lambda_powertools.metrics import MetricUnit

    from sluice_common.observability import metrics

    with pytest.raises(catalogue.MetricNotCatalogued, match=r"RowSent.*metric_catalogue\.py"):
        metrics.add_metric(name="RowSent", unit=MetricUnit.Count, value=1)
    with pytest.raises(catalogue.MetricNotCatalogued, match=r"RowsSent.*'Seconds'.*'Count'"):
        metrics.add_metric(name="RowsSent", unit=MetricUnit.Seconds, value=1)
    try:
        metrics.add_metric(name="RowsSent", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="SuccessRate", unit="Percent", value=99.5)
        assert set(metrics.metric_set) == {"RowsSent", "SuccessRate"}
    finally:
        metrics.clear_metrics()


def test_dt_metrics_refuses_a_key_the_catalogue_lacks() -> None:
    from sluice_common.observability import dt_metrics

    assert dt_metrics(rows_sent=2) == {"dt.metrics": {"sluice.rows_sent": 2}}
    with pytest.raises(catalogue.MetricNotCatalogued, match=r"row_sent.*metric_catalogue\.py"):
        dt_metrics(rows_sent=1, row_sent=1)
