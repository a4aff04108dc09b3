"""sluice-dashboard: a Dynatrace dashboard for one deployed Sluice stack.

    sluice-dashboard --stack-name sluice --output sluice-dashboard.json
    curl -X POST "$DT_URL/api/config/v1/dashboards" -H "Authorization: Api-Token $DT_TOKEN" \\
         -H "Content-Type: application/json; charset=utf-8" --data @sluice-dashboard.json

Reads the stack's resources (CloudFormation ListStackResources) and writes a classic dashboard
(the JSON of the Configuration API ``/api/config/v1/dashboards``): a header, then Data Explorer
tiles for queue depth and age, dead letters, throughput, errors, processing duration and
concurrency. The charts query the metrics MetricsSyncFunction sends: metric keys and dimensions
come from the metric catalogue both follow (``sluice_common.metric_catalogue``, the common
layer of this checkout), so the two cannot drift apart.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sluice_ops.catalogue import metric_catalogue as catalogue

QUEUES = {
    "ObjectQueue": "object",
    "PriorityQueue": "priority",
    "ObjectDeadLetterQueue": "dead-letter",
}
STATE_MACHINE = "DrainStateMachine"
PROCESS_FUNCTION = "ProcessObjectFunction"
TILE_WIDTH, TILE_HEIGHT, HEADER_HEIGHT = 456, 304, 76


@dataclass(frozen=True)
class StackResources:
    stack: str
    queues: dict[str, str]  # logical id -> queue name
    functions: dict[str, str]  # logical id -> function name
    state_machine: str  # name ("" when the stack has none)


def read_stack(cloudformation: Any, stack_name: str) -> StackResources:
    """The stack's queues, functions and drain state machine, by logical id."""
    physical: dict[str, str] = {}
    types: dict[str, str] = {}
    for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name):
        for resource in page.get("StackResourceSummaries", []):
            logical = resource["LogicalResourceId"]
            if resource.get("PhysicalResourceId"):
                physical[logical] = resource["PhysicalResourceId"]
                types[logical] = resource.get("ResourceType", "")
    functions = {
        logical: value
        for logical, value in sorted(physical.items())
        if logical.endswith("Function") and types[logical] == "AWS::Lambda::Function"
    }
    if not (set(QUEUES) & set(physical)):
        raise SystemExit(f"stack {stack_name} has none of {', '.join(QUEUES)}: is it Sluice?")
    return StackResources(
        stack=stack_name,
        queues={q: catalogue.queue_name(physical[q]) for q in QUEUES if q in physical},
        functions=functions,
        state_machine=catalogue.state_machine_name(physical.get(STATE_MACHINE, "")),
    )


# -- metric selectors ----------------------------------------------------------------------------
def _quote(value: str) -> str:
    """A metric selector string literal: ``~`` escapes ``~`` and ``"``."""
    return '"' + value.replace("~", "~~").replace('"', '~"') + '"'


def selector(
    key: str,
    stack: str,
    dimension: str | None = None,
    values: list[str] | None = None,
    *,
    split: bool = True,
    aggregation: str = "sum",
) -> str:
    """``key:filter(...):splitBy(...):aggregation`` for one stack, some resources."""
    conditions = [f"eq({_quote(catalogue.STACK_DIMENSION)},{_quote(stack)})"]
    if dimension and values:
        either = [f"eq({_quote(dimension)},{_quote(v)})" for v in values]
        conditions.append(either[0] if len(either) == 1 else f"or({','.join(either)})")
    where = conditions[0] if len(conditions) == 1 else f"and({','.join(conditions)})"
    split_by = _quote(dimension) if dimension and split else ""
    return f"{key}:filter({where}):splitBy({split_by}):{aggregation}"


def _query(letter: str, metric_selector: str) -> dict[str, Any]:
    return {
        "id": letter,
        "spaceAggregation": "AUTO",
        "timeAggregation": "DEFAULT",
        "splitBy": [],
        "metricSelector": metric_selector,
        "rate": "NONE",
        "enabled": True,
    }


def _bounds(index: int, columns: int = 3) -> dict[str, int]:
    row, column = divmod(index, columns)
    return {
        "top": HEADER_HEIGHT + row * TILE_HEIGHT,
        "left": column * TILE_WIDTH,
        "width": TILE_WIDTH,
        "height": TILE_HEIGHT,
    }


def data_explorer_tile(
    name: str, series: list[tuple[str, str]], index: int, chart: str = "GRAPH_CHART"
) -> dict[str, Any]:
    """A Data Explorer tile: ``series`` are (alias, metric selector), one query each."""
    letters = [chr(ord("A") + n) for n in range(len(series))]
    return {
        "name": name,
        "tileType": "DATA_EXPLORER",
        "configured": True,
        "bounds": _bounds(index),
        "tileFilter": {},
        "isAutoRefreshDisabled": False,
        "customName": name,
        "queries": [_query(letter, sel) for letter, (_, sel) in zip(letters, series, strict=True)],
        "visualConfig": {
            "type": chart,
            "global": {},
            "rules": [
                {
                    "matcher": f"{letter}:",
                    "unitTransform": "auto",
                    "valueFormat": "auto",
                    "properties": {"color": "DEFAULT", "seriesType": "LINE", "alias": alias},
                    "seriesOverrides": [],
                }
                for letter, (alias, _) in zip(letters, series, strict=True)
            ],
            "axes": {
                "xAxis": {"displayName": "", "visible": True},
                "yAxes": [
                    {
                        "displayName": "",
                        "visible": True,
                        "min": "AUTO",
                        "max": "AUTO",
                        "position": "LEFT",
                        "queryIds": letters,
                        "defaultAxis": True,
                    }
                ],
            },
            "graphChartSettings": {"connectNulls": False},
        },
        "queriesSettings": {"resolution": ""},
        "metricExpressions": [f"resolution=null&({sel}):limit(100):names" for _, sel in series],
    }


def header_tile(resources: StackResources, width: int) -> dict[str, Any]:
    queues = ", ".join(f"`{name}`" for name in resources.queues.values())
    machine = f"`{resources.state_machine}`" if resources.state_machine else "none"
    return {
        "name": "Markdown",
        "tileType": "MARKDOWN",
        "configured": True,
        "bounds": {"top": 0, "left": 0, "width": width, "height": HEADER_HEIGHT},
        "tileFilter": {},
        "markdown": (
            f"## Sluice: stack `{resources.stack}`\n"
            f"Queues {queues}; drain {machine}. CloudWatch metrics synced by "
            "MetricsSyncFunction every few minutes, a few minutes behind."
        ),
    }


def build_dashboard(resources: StackResources, owner: str = "") -> dict[str, Any]:
    """The dashboard JSON for one stack (the body of POST /api/config/v1/dashboards)."""
    stack = resources.stack
    queues = list(resources.queues.values())
    dead_letter = [resources.queues[q] for q in ["ObjectDeadLetterQueue"] if q in resources.queues]
    functions = list(resources.functions.values())
    process = [resources.functions[f] for f in [PROCESS_FUNCTION] if f in resources.functions]
    machine = [resources.state_machine] if resources.state_machine else []
    sqs, lam, states = catalogue.SQS, catalogue.LAMBDA, catalogue.STATES

    def chart(
        alias: str,
        name: str,
        namespace: str | None = None,
        on: list[str] | None = None,
        aggregation: str = "sum",
    ) -> tuple[str, str] | None:
        """(alias, selector) of a synced metric, split by the dimension the sync gives it;
        None when the stack lacks the resources ``on`` names."""
        spec = catalogue.spec_for(name, namespace)
        if on is None:
            return alias, selector(spec.key, stack, aggregation=aggregation)
        if not on:
            return None
        return alias, selector(spec.key, stack, spec.scope.value, on, aggregation=aggregation)

    planned: list[tuple[str, list[tuple[str, str] | None]]] = [
        (
            "Queue depth",
            [chart("messages visible", "ApproximateNumberOfMessagesVisible", sqs, queues, "max")],
        ),
        (
            "Age of oldest message",
            [chart("oldest message (s)", "ApproximateAgeOfOldestMessage", sqs, queues, "max")],
        ),
        (
            "Dead letters",
            [
                chart(
                    "waiting in the dead-letter queue",
                    "ApproximateNumberOfMessagesVisible",
                    sqs,
                    dead_letter,
                    "max",
                ),
                chart("dead-lettered", "NumberOfMessagesSent", sqs, dead_letter),
            ],
        ),
        (
            "Throughput",
            [chart("objects processed", "ObjectsProcessed"), chart("rows sent", "RowsSent")],
        ),
        (
            "Errors",
            [
                chart("objects failed", "ObjectsFailed"),
                chart("rows failed", "RowsFailed"),
                chart("function errors", "Errors", lam, functions),
                chart("drain executions failed", "ExecutionsFailed", states, machine),
            ],
        ),
        (
            "Processing duration and downstream retries",
            [
                chart("object processing (ms, avg)", "ObjectProcessingDuration", aggregation="avg"),
                chart("object processing (ms, max)", "ObjectProcessingDuration", aggregation="max"),
                chart("downstream retries", "DownstreamRetries"),
            ],
        ),
        (
            "Concurrency (ProcessObject)",
            [chart("concurrent executions", "ConcurrentExecutions", lam, process, "max")],
        ),
    ]
    tiles = [(name, [s for s in series if s]) for name, series in planned]
    metadata: dict[str, Any] = {
        "name": f"Sluice: {stack}",
        "shared": True,
        "tags": sorted({"sluice", stack}),
        "dashboardFilter": {"timeframe": "-2h", "managementZone": None},
    }
    if owner:  # else Dynatrace makes the token's user the owner
        metadata["owner"] = owner
    return {
        "dashboardMetadata": metadata,
        "tiles": [
            header_tile(resources, 3 * TILE_WIDTH),
            *(
                data_explorer_tile(name, series, n)
                for n, (name, series) in enumerate(t for t in tiles if t[1])
            ),
        ],
    }


def metric_keys(dashboard: dict[str, Any]) -> set[str]:
    """The metric keys a dashboard's tiles query."""
    return {
        query["metricSelector"].split(":", 1)[0]
        for tile in dashboard["tiles"]
        for query in tile.get("queries", [])
    }


# -- the command ---------------------------------------------------------------------------------
ALIAS_NOTE = (
    "sluice-dashboard is an alias of `sluice dashboard` (which also takes --profile and "
    "AWS_ENDPOINT_URL), kept for one release."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--owner", default="", help="dashboard owner (default: the token's user)")
    parser.add_argument("--output", help="write the JSON here (default: standard output)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sluice-dashboard", description=__doc__.split("\n")[0], epilog=ALIAS_NOTE
    )
    parser.add_argument("--stack-name", required=True, help="the deployed Sluice stack")
    parser.add_argument("--region")
    parser.add_argument("--endpoint-url", help="e.g. a local emulator")
    add_arguments(parser)
    return parser


def run(args: argparse.Namespace, cloudformation: Any) -> str:
    resources = read_stack(cloudformation, args.stack_name)
    return json.dumps(build_dashboard(resources, owner=args.owner), indent=2) + "\n"


def emit(args: argparse.Namespace, text: str) -> None:
    if args.output:
        Path(args.output).write_text(text)
        print(f"dashboard for stack {args.stack_name} written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> None:
    import boto3

    args = _parser().parse_args(argv)
    session = boto3.Session(region_name=args.region)
    emit(args, run(args, session.client("cloudformation", endpoint_url=args.endpoint_url)))


if __name__ == "__main__":
    main()
