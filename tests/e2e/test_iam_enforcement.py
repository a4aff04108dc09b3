"""The local runtime refuses what AWS refuses: IAM and KMS (issue 15).

A representative run of every pipeline with every optional part on is refused nothing (no false
denial), and each of its roles needs every action it grants: removing any one of them
(offline, re-deciding the run's recorded calls) refuses some call the run made, exceptions
listed with their reasons in GRANTS_NOT_EXERCISED. Template copies with one of issue 14's
defects put back fail their local run the way AWS would fail them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sluice_local.emulator.iam.aws_calls import (
    LOG_DESTINATION_REFUSED,
    VPC_NETWORK_INTERFACE_ACTIONS,
)
from sluice_local.emulator.iam.model import CheckedCall, CreateRefused, IamModel
from sluice_local.emulator.iam.policy import action_matches
from sluice_local.emulator.runtime import LocalPipeline
from sluice_local.jobs.demo import deployed, run_job, sample_objects
from sluice_local.jobs.payments import run_payments, sample_payments, stored_items
from sluice_local.jobs.stream_job import run_stream
from sluice_local.servers.smtp import SmtpServer
from sluice_ops.stream import sample_events
from testkit.observability import fail_one_drain, observability_servers
from testkit.pipelines import PAYMENTS_ON
from testkit.template_copy import template_copy

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e

# (role, action) granted but not called by the representative run, and why. The test fails
# when one of these turns out to be needed after all, so the list stays true.
MANAGED = "AWS managed policy SAM attaches to every function; not the template's to trim"
XRAY = "X-Ray is not emulated locally: traces are never sent"
FUNCTION_ROLES = tuple(
    f"{name}FunctionRole"
    for name in (
        "DrainLease",
        "PlanBatch",
        "ProcessObject",
        "ExecutionAlert",
        "AlertNotifier",
        "SplunkForwarder",
        "MetricsSync",
        "ValidatePayment",
        "ProcessPayment",
        "EnrichPayment",
        "ProcessStream",
    )
)
GRANTS_NOT_EXERCISED: dict[tuple[str, str], str] = {
    **{
        (role, action): f"{MANAGED}; {XRAY}"
        for role in (*FUNCTION_ROLES, "DrainStateMachineRole")
        for action in (
            "xray:PutTraceSegments",
            "xray:PutTelemetryRecords",
            "xray:GetSamplingRules",
            "xray:GetSamplingTargets",
            "xray:GetSamplingStatisticSummaries",
        )
    },
    **{
        (role, "logs:CreateLogGroup"): f"{MANAGED}; Lambda creates a function's log group only "
        "when it does not exist, and the template creates every one"
        for role in FUNCTION_ROLES
    },
    **{
        ("PaymentStateMachineRole", action): f"{XRAY} (PaymentTracing=true)"
        for action in (
            "xray:PutTraceSegments",
            "xray:PutTelemetryRecords",
            "xray:GetSamplingRules",
            "xray:GetSamplingTargets",
        )
    },
    **{
        (f"{name}FunctionRole", action): f"{MANAGED} with a VpcConfig (even one UseVpc leaves "
        "out); Lambda uses them for a VPC function's network interfaces, never the code"
        for name in ("ProcessObject", "AlertNotifier", "SplunkForwarder", "MetricsSync")
        for action in VPC_NETWORK_INTERFACE_ACTIONS
    },
    **{
        (f"{name}FunctionRole", action): "granted twice, by AWSLambdaBasicExecutionRole and "
        "AWSLambdaVPCAccessExecutionRole (both SAM's): either copy alone serves the run"
        for name in ("ProcessObject", "AlertNotifier", "SplunkForwarder", "MetricsSync")
        for action in ("logs:CreateLogStream", "logs:PutLogEvents")
    },
    ("DrainStateMachineRole", "states:StartExecution"): "HandOver starts a fresh drain only "
    "when an execution nears the Express limit (minutes of real time), which a test run never "
    "reaches",
    ("ProcessObjectFunctionRole", "dynamodb:GetItem"): "Powertools Idempotency reads an "
    "existing record from its failed conditional write (ReturnValuesOnConditionCheckFailure); "
    "GetItem is its fallback when that carries no item, and Powertools documents it as required",
    ("ProcessStreamFunctionRole", "kinesis:DescribeStreamSummary"): "in AWS's documented Lambda "
    "Kinesis permission set; the local poller reads with ListShards and GetShardIterator",
}


@dataclass
class Recorded:
    model: IamModel
    calls: list[CheckedCall]
    summary: dict[str, Any]


def _throttle_first(keys: tuple[str, ...], times: int) -> Callable[[str, Any], bool]:
    """Throttle ProcessObject for these objects their first ``times`` tries each: the drain
    returns their messages (ChangeMessageVisibility) and processes them later."""
    seen = dict.fromkeys(keys, 0)

    def hook(logical_id: str, event: Any) -> bool:
        text = json.dumps(event)
        for key in keys if logical_id == "ProcessObjectFunction" else ():
            if key in text:
                seen[key] += 1
                return seen[key] <= times
        return False

    return hook


@pytest.fixture(scope="module")
def recorded() -> Recorded:
    """Every pipeline, every optional part on, each path that calls AWS taken once."""
    with observability_servers() as servers:
        overrides = {
            **servers.overrides(),
            **PAYMENTS_ON,
            "PaymentTracing": "true",
            "EnableStreamPipeline": "true",
            "StreamBatchSize": "20",
            "StreamBatchWindowSeconds": "0",
            "StreamMaximumRetryAttempts": "0",
            "StreamStartingPosition": "TRIM_HORIZON",
        }
        secrets = {**servers.secrets(), "DownstreamAuthSecretArn": "local-downstream-token"}
        with deployed(
            ROOT / "template.yaml",
            overrides,
            secrets=secrets,
            latency_s=0.002,
        ) as (pipeline, downstream):
            _run_everything(pipeline, downstream, servers.smtp)
    # Decided offline from here: the deployment is gone before the next test deploys.
    return Recorded(pipeline.iam.model, pipeline.iam.calls(), pipeline.iam.summary())


def _run_everything(pipeline: LocalPipeline, downstream: Any, smtp: SmtpServer) -> None:
    sqs, s3 = pipeline.client("sqs"), pipeline.client("s3")
    bucket = pipeline.outputs["BucketName"]
    s3.put_object(Bucket=bucket, Key="urgent/one.csv", Body=b"id\n1\n2\n")

    def prioritise() -> None:
        # One priority object, and one deleted before it is processed (S3 answers 404 to a
        # role that may list the bucket).
        for key in ("urgent/one.csv", "urgent/deleted.csv"):
            sqs.send_message(
                QueueUrl=pipeline.outputs["PriorityQueueUrl"],
                MessageBody=json.dumps({"s3_details": {"bucket": bucket, "key": key}}),
            )

    # Objects: two bad ones (dead-lettered, alerted by email); one row refused downstream
    # (the object is dead-lettered as RowsFailed); one backlog and one
    # priority object throttled until the drain returns them to their queues.
    objects = sample_objects(count=4, rows=4, failing=2)
    downstream.script(400)
    pipeline.dispatcher.throttle_hook = _throttle_first(("orders 2024-01", "urgent/one.csv"), 4)
    try:
        run_job(pipeline, downstream, objects, timeout=120, after_upload=prioritise)
    finally:
        pipeline.dispatcher.throttle_hook = None

    # An object longer than one invocation's budget: each invocation's start_by is brought
    # forward, so it stops unfinished and the drain continues it from a fresh message
    # (ContinueLater: sqs:SendMessage on its queue).
    def short_budget(name: str, event: Any) -> None:
        if name == "ProcessObjectFunction" and "long/" in json.dumps(event.get("s3_details")):
            event["start_by"] = time.time() + 0.2

    pipeline.dispatcher.crash_hook = short_budget
    try:
        long = sample_objects(count=1, rows=300, failing=0, prefix="long/")
        report = run_job(pipeline, downstream, long, timeout=120)
    finally:
        pipeline.dispatcher.crash_hook = None
    assert report.processed == 1 and report.duplicate_rows == 0
    assert any(
        i.result.get("unfinished")
        for i in pipeline.dispatcher.stats.results("ProcessObjectFunction")
        if not i.errored
    )

    # A failed drain execution: the execution alert and its email.
    fail_one_drain(pipeline)
    deadline = time.monotonic() + 30
    while not any("injected" in str(m.message) for m in list(smtp.messages)):
        assert time.monotonic() < deadline, "no execution alert email"
        time.sleep(0.05)

    # The metrics sync on its schedule (EventBridge invokes it by its permission).
    [sync] = [s for s in pipeline.schedules if s.name.startswith("MetricsSyncFunction")]
    pipeline.fire(sync)

    # Payments: valid, invalid (dead-lettered), duplicates (the stored one read back).
    run_payments(pipeline, sample_payments(12, invalid=2, duplicates=2, seed=5), timeout=60)
    # The stream: valid events written, malformed ones dead-lettered as ranges.
    run_stream(pipeline, sample_events(40, malformed=2, seed=5), rate=None, timeout=60)

    # Each asynchronously invoked function failing after its retries: Lambda sends the record
    # to the encrypted ObservabilityDeadLetterQueue with the function's role (and its key).
    failing = ("ExecutionAlertFunction", "AlertNotifierFunction", "SplunkForwarderFunction")
    failing += ("MetricsSyncFunction",)

    def fail(name: str, event: Any) -> None:
        if name in failing:
            raise RuntimeError("injected failure for the on-failure destination")

    pipeline.dispatcher.crash_hook = fail
    try:
        lam = pipeline.client("lambda")
        for logical_id in failing:
            lam.invoke(
                FunctionName=pipeline.resources[logical_id], InvocationType="Event", Payload=b"{}"
            )
    finally:
        pipeline.dispatcher.crash_hook = None
    url = pipeline.outputs["ObservabilityDeadLetterQueueUrl"]
    arrived: set[str] = set()
    deadline = time.monotonic() + 30
    while not all(pipeline.resources[f] in " ".join(arrived) for f in failing):
        assert time.monotonic() < deadline, f"on-failure records missing: {arrived}"
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            arrived.add(json.loads(message["Body"])["requestContext"]["functionArn"])


def test_a_representative_run_is_refused_nothing(recorded: Recorded) -> None:
    summary = recorded.summary
    assert summary["enforced"] is True
    assert summary["denied"] == [], summary["denied"]
    assert summary["calls_checked"] > 500
    assert len(summary["roles"]) == 15


def test_every_grant_is_needed(recorded: Recorded) -> None:
    """Remove each action from each Allow statement of each role in turn: some call of the run
    must then be refused."""
    model = recorded.model
    unneeded: set[tuple[str, str]] = set()
    for arn, role in model.roles.items():
        calls = [c for c in recorded.calls if c.principal == arn]
        for index, statement in enumerate(role.statements):
            if statement.effect != "Allow":
                continue
            for action in statement.actions:
                trimmed = list(role.statements)
                trimmed[index] = statement.without_action(action)
                needed = any(
                    not model.decide(call, {arn: trimmed}).allowed
                    for call in calls
                    if action_matches(action, call.action)
                )
                if not needed:
                    unneeded.add((role.logical_id, action))
    unexplained = sorted(unneeded - set(GRANTS_NOT_EXERCISED))
    assert unexplained == [], f"granted, never needed by the run: {unexplained}"
    stale = sorted(set(GRANTS_NOT_EXERCISED) - unneeded)
    assert stale == [], f"listed as not exercised, but needed: {stale}"


# -- issue 14's defects put back, each in a copy of the template -----------------------------
def _statements(resource: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for policy in resource["Properties"]["Policies"]:
        if isinstance(policy, dict) and "Statement" in policy:
            yield from policy["Statement"]


def _without_statement(resource: dict[str, Any], sid: str) -> None:
    for policy in resource["Properties"]["Policies"]:
        if isinstance(policy, dict) and "Statement" in policy:
            policy["Statement"] = [s for s in policy["Statement"] if s.get("Sid") != sid]


def test_without_the_s3_read_grant_every_object_is_dead_lettered_access_denied(
    tmp_path: Path,
) -> None:
    def no_s3_read(resources: dict[str, Any]) -> None:
        _without_statement(resources["ProcessObjectFunction"], "ReadObjects")

    template = template_copy(tmp_path, no_s3_read)
    objects = sample_objects(count=3, rows=2, failing=0)
    overrides = {"MaxConcurrency": "2", "StaggerSeconds": "0"}
    with deployed(template, overrides, latency_s=0.002) as (pipeline, downstream):
        report = run_job(pipeline, downstream, objects, timeout=120)
        summary = pipeline.iam.summary()
    assert report.processed == 0 and report.unaccounted == []
    assert len(report.dead_lettered) == 3
    assert all(reason.startswith("AccessDenied:") for reason in report.dead_lettered.values())
    assert {d["action"] for d in summary["denied"]} == {"s3:GetObjectVersion"}
    assert {d["principal"] for d in summary["denied"]} == {"ProcessObjectFunctionRole"}
    for denied in summary["denied"]:
        assert "is not authorized to perform: s3:GetObjectVersion" in denied["reason"]
        assert "because no identity-based policy allows the s3:GetObjectVersion" in denied["reason"]
    assert summary["denied_calls"] == 3


def test_without_the_leases_delete_item_the_lease_is_never_released(tmp_path: Path) -> None:
    def no_release(resources: dict[str, Any]) -> None:
        for statement in _statements(resources["DrainLeaseFunction"]):
            if statement.get("Sid") == "HoldAndReleaseTheLease":
                statement["Action"].remove("dynamodb:DeleteItem")

    template = template_copy(tmp_path, no_release)
    objects = sample_objects(count=2, rows=2, failing=0)
    overrides = {"MaxConcurrency": "2", "StaggerSeconds": "0"}
    with deployed(template, overrides, latency_s=0.002) as (pipeline, downstream):
        run_job(pipeline, downstream, objects, timeout=120)
        summary = pipeline.iam.summary()
        lease = pipeline.client("dynamodb").scan(TableName=pipeline.resources["LeaseTable"])
    [denied] = {(d["principal"], d["action"]) for d in summary["denied"]}
    assert denied == ("DrainLeaseFunctionRole", "dynamodb:DeleteItem")
    assert lease["Items"], "the drain's lease is still held after it ended"


def test_without_the_payment_key_grant_no_payment_is_stored(tmp_path: Path) -> None:
    template = template_copy(
        tmp_path,
        lambda resources: _without_statement(
            resources["PaymentStateMachine"], "UsePaymentKeyThroughDynamoDB"
        ),
    )
    with LocalPipeline(template, PAYMENTS_ON, time_scale=0.02) as pipeline:
        run_payments(pipeline, sample_payments(4, invalid=0, duplicates=0, seed=3), timeout=60)
        summary = pipeline.iam.summary()
        stored = stored_items(pipeline)
        sfn = pipeline.client("stepfunctions")
        failed = {
            event["taskFailedEventDetails"]["error"]
            for execution in pipeline.executions("PaymentStateMachine")
            for event in sfn.get_execution_history(executionArn=execution["executionArn"])["events"]
            if event["type"] == "TaskFailed"
        }
    assert stored == []
    # StorePayment fails as the optimized DynamoDB integration reports a refused call.
    assert failed == {"DynamoDB.AmazonDynamoDBException"}
    refused = {(d["principal"], d["action"]) for d in summary["denied"]}
    assert ("PaymentStateMachineRole", "kms:Decrypt") in refused
    [reason] = {d["reason"] for d in summary["denied"] if d["action"] == "kms:Decrypt"}
    assert "because no identity-based policy allows the kms:Decrypt action" in reason


def test_without_the_log_delivery_grant_the_drain_cannot_be_created(tmp_path: Path) -> None:
    template = template_copy(
        tmp_path,
        lambda resources: _without_statement(
            resources["DrainStateMachine"], "DeliverExecutionLogs"
        ),
    )
    with pytest.raises(CreateRefused) as refused:
        LocalPipeline(template, time_scale=0.02).start()
    assert str(refused.value).startswith(f"DrainStateMachine: {LOG_DESTINATION_REFUSED}")
    assert "logs:CreateLogDelivery on *" in str(refused.value)
