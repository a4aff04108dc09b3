"""sluice-dashboard: a deployed stack's resources -> a classic Dynatrace dashboard whose charts
query the keys and dimensions MetricsSyncFunction sends."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from sluice_local.servers.dynatrace import parse_line
from sluice_ops import dashboard
from sluice_ops.dashboard import build_dashboard, metric_keys, read_stack, run

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = {
    "AWSTemplateFormatVersion": "2010-09-09",
    "Resources": {
        "ObjectQueue": {"Type": "AWS::SQS::Queue"},
        "PriorityQueue": {"Type": "AWS::SQS::Queue"},
        "ObjectDeadLetterQueue": {"Type": "AWS::SQS::Queue"},
        "Role": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            },
        },
        "ProcessObjectFunction": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "Runtime": "python3.13",
                "Handler": "index.handler",
                "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                "Code": {"ZipFile": "def handler(event, context):\n    return event\n"},
            },
        },
    },
}


@pytest.fixture
def cloudformation() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("cloudformation", region_name="us-east-1")
        client.create_stack(StackName="sluice-prod", TemplateBody=json.dumps(TEMPLATE))
        yield client


def selectors(board: dict[str, Any]) -> list[str]:
    return [q["metricSelector"] for tile in board["tiles"] for q in tile.get("queries", [])]


def tile(board: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in board["tiles"] if t["name"] == name)


def test_a_deployed_stack_becomes_a_dashboard_naming_its_resources(cloudformation: Any) -> None:
    resources = read_stack(cloudformation, "sluice-prod")
    physical = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cloudformation.list_stack_resources(StackName="sluice-prod")[
            "StackResourceSummaries"
        ]
    }
    dlq = physical["ObjectDeadLetterQueue"].rsplit("/", 1)[-1]  # the queue URL's last part
    process = physical["ProcessObjectFunction"]
    assert resources.queues["ObjectDeadLetterQueue"] == dlq
    assert resources.functions == {"ProcessObjectFunction": process}

    board = json.loads(
        run(dashboard._parser().parse_args(["--stack-name", "sluice-prod"]), cloudformation)
    )

    assert board["dashboardMetadata"]["name"] == "Sluice: sluice-prod"
    assert "sluice-prod" in board["dashboardMetadata"]["tags"]
    header = board["tiles"][0]
    assert header["tileType"] == "MARKDOWN"
    assert dlq in header["markdown"]
    assert {t["tileType"] for t in board["tiles"][1:]} == {"DATA_EXPLORER"}
    assert all('eq("stack","sluice-prod")' in s for s in selectors(board))
    depth = tile(board, "Queue depth")["queries"][0]["metricSelector"]
    assert all(f'eq("queue","{name}")' in depth for name in resources.queues.values())
    dead = tile(board, "Dead letters")["queries"]
    assert all(f'eq("queue","{dlq}")' in q["metricSelector"] for q in dead)
    concurrency = tile(board, "Concurrency (ProcessObject)")["queries"][0]["metricSelector"]
    assert concurrency.startswith("sluice.function.concurrent_executions:")
    assert f'eq("function","{process}")' in concurrency


def test_the_charts_query_the_keys_and_dimensions_the_sync_sends(cloudformation: Any) -> None:
    catalogue = dashboard.catalogue
    sent = {spec.key: spec.scope.value for spec in catalogue.SYNCED}
    board = build_dashboard(read_stack(cloudformation, "sluice-prod"))
    assert metric_keys(board) <= set(sent)
    for metric_selector in selectors(board):
        key = metric_selector.split(":", 1)[0]
        named = set(re.findall(r'eq\("([^"]+)"', metric_selector))
        assert named <= {"stack", sent[key]}, metric_selector
        # A line the sync would send for that metric parses to the same key and dimensions.
        line = parse_line(f'{key},stack="sluice-prod",{sent[key]}="x" count,delta=1')
        assert line.key == key
        assert set(line.dimensions) >= named
    for needed in ("ObjectsProcessed", "RowsSent", "ObjectsFailed", "RowsFailed"):
        assert catalogue.spec_for(needed).key in metric_keys(board)
    every_tile = json.dumps(board)
    assert "metricExpressions" in every_tile
    assert board["tiles"][1]["metricExpressions"][0].startswith("resolution=null&(sluice.")


def test_the_catalogue_is_the_file_the_lambda_functions_ship() -> None:
    # The common layer every function (the sync included) is deployed with, from this checkout.
    shipped = ROOT / "layers/common/python/sluice_common/metric_catalogue.py"
    assert Path(dashboard.catalogue.__file__ or "").resolve() == shipped


def page(*resources: tuple[str, str, str]) -> list[dict[str, Any]]:
    return [
        {
            "LogicalResourceId": logical,
            "PhysicalResourceId": physical,
            "ResourceType": kind,
            "LastUpdatedTimestamp": "2024-01-15T10:00:00Z",
            "ResourceStatus": "CREATE_COMPLETE",
        }
        for logical, physical, kind in resources
    ]


def test_every_page_of_stack_resources_is_read_functions_and_state_machine_included() -> None:
    client = boto3.client("cloudformation", region_name="us-east-1")
    machine = "arn:aws:states:us-east-1:123456789012:stateMachine:DrainStateMachine-Ab1"
    with Stubber(client) as stub:
        stub.add_response(
            "list_stack_resources",
            {
                "StackResourceSummaries": page(
                    (
                        "ObjectQueue",
                        "https://sqs.us-east-1.amazonaws.com/1/s-ObjectQueue-1",
                        "AWS::SQS::Queue",
                    ),
                    ("ProcessObjectFunction", "s-ProcessObjectFunction-2", "AWS::Lambda::Function"),
                    ("ProcessObjectFunctionRole", "s-Role-3", "AWS::IAM::Role"),
                ),
                "NextToken": "page2",
            },
            {"StackName": "s"},
        )
        stub.add_response(
            "list_stack_resources",
            {
                "StackResourceSummaries": page(
                    ("DrainStateMachine", machine, "AWS::StepFunctions::StateMachine"),
                    ("PlanBatchFunction", "s-PlanBatchFunction-4", "AWS::Lambda::Function"),
                    ("MetricsSyncFunction", "s-MetricsSyncFunction-5", "AWS::Lambda::Function"),
                )
            },
            {"StackName": "s", "NextToken": "page2"},
        )
        resources = read_stack(client, "s")
    assert resources.queues == {"ObjectQueue": "s-ObjectQueue-1"}
    assert resources.functions == {
        "MetricsSyncFunction": "s-MetricsSyncFunction-5",
        "PlanBatchFunction": "s-PlanBatchFunction-4",
        "ProcessObjectFunction": "s-ProcessObjectFunction-2",
    }
    assert resources.state_machine == "DrainStateMachine-Ab1"
    board = build_dashboard(resources)
    # No dead-letter queue in this stack: no tile that would chart every queue instead.
    assert "Dead letters" not in [t["name"] for t in board["tiles"]]
    errors = tile(board, "Errors")["queries"]
    functions = next(q for q in errors if q["metricSelector"].startswith("sluice.function.errors"))
    assert all(f'"{name}"' in functions["metricSelector"] for name in resources.functions.values())
    failed = next(q for q in errors if q["metricSelector"].startswith("sluice.drain."))
    assert 'eq("state_machine","DrainStateMachine-Ab1")' in failed["metricSelector"]


def test_a_stack_that_is_not_sluice_is_refused() -> None:
    client = boto3.client("cloudformation", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_response(
            "list_stack_resources",
            {"StackResourceSummaries": page(("Bucket", "b", "AWS::S3::Bucket"))},
            {"StackName": "other"},
        )
        with pytest.raises(SystemExit, match="is it Sluice"):
            read_stack(client, "other")


def test_main_writes_the_dashboard_file(
    cloudformation: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(boto3.Session, "client", lambda self, *a, **k: cloudformation)
    out = tmp_path / "board.json"
    dashboard.main(["--stack-name", "sluice-prod", "--output", str(out), "--owner", "ops@x"])
    board = json.loads(out.read_text())
    assert board["dashboardMetadata"]["owner"] == "ops@x"
    assert len(board["tiles"]) == 8
