"""What AWS checks at deploy and run time that the emulator does not: IAM and KMS.

moto evaluates no IAM policy and no KMS key use, so a missing grant passes every local run and
fails on the first real deploy. These tests read the translated template (conditions resolved
the way CloudFormation would, every optional part on) and check each role against what AWS
documents for the calls the pipeline makes.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_optional_parts import ALL_ON, _references, _resolved  # one condition resolver

# One definition each, shared with the local runtime that enforces them
# (sluice_local.emulator.iam.enforcer).
from sluice_local.emulator.iam.aws_calls import KEY_USE, LOG_DELIVERY_ACTIONS
from sluice_local.emulator.iam.managed_policies import MANAGED_POLICIES

ROOT = Path(__file__).resolve().parents[2]
BUCKET_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"

XRAY_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _managed(arn: Any) -> list[dict[str, Any]]:
    text = json.dumps(arn)
    for name, statements in MANAGED_POLICIES.items():
        if name.split("policy/")[1] in text:
            return statements
    raise AssertionError(f"no pinned document for the managed policy {arn}")


def _role_statements(cfn: dict[str, Any], role: str) -> list[dict[str, Any]]:
    props = cfn["Resources"][role]["Properties"]
    inline = [
        statement
        for policy in props.get("Policies", [])
        for statement in _as_list(policy["PolicyDocument"]["Statement"])
    ]
    return inline + [s for arn in props.get("ManagedPolicyArns", []) for s in _managed(arn)]


def _role_of(cfn: dict[str, Any], logical_id: str) -> str:
    props = cfn["Resources"][logical_id]["Properties"]
    role = props.get("RoleArn") or props.get("Role")
    assert isinstance(role, dict) and "Fn::GetAtt" in role, f"{logical_id} has no template role"
    return str(role["Fn::GetAtt"][0])


def _names(resource: Any, target: str) -> bool:
    """Whether a statement's Resource entry is, or is built from, ``target`` (a logical id or
    a literal ARN)."""
    return resource == "*" or resource == target or target in _references(resource)


def _allowing(cfn: dict[str, Any], role: str, action: str, target: str) -> Iterator[dict[str, Any]]:
    """The role's Allow statements that grant ``action`` on ``target``."""
    for statement in _role_statements(cfn, role):
        if statement["Effect"] != "Allow":
            continue
        actions = _as_list(statement["Action"])
        if not any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in actions):
            continue
        if any(_names(r, target) for r in _as_list(statement.get("Resource", []))):
            yield statement


def _allows(cfn: dict[str, Any], role: str, action: str, target: str) -> bool:
    return any(True for _ in _allowing(cfn, role, action, target))


@pytest.fixture(scope="module")
def all_on() -> dict[str, Any]:
    return _resolved({**ALL_ON, "PaymentTracing": "true"})


def test_every_state_machine_that_logs_may_set_up_its_log_delivery(all_on: dict[str, Any]) -> None:
    logging = {
        logical_id: _role_of(all_on, logical_id)
        for logical_id, r in all_on["Resources"].items()
        if r["Type"] == "AWS::StepFunctions::StateMachine"
        and r["Properties"].get("LoggingConfiguration")
    }
    assert {"DrainStateMachine", "PaymentStateMachine"} <= set(logging)
    for machine, role in logging.items():
        for action in LOG_DELIVERY_ACTIONS:
            granted = [
                s for s in _allowing(all_on, role, action, "*") if "*" in _as_list(s["Resource"])
            ]
            assert granted, f"{machine}: AWS refuses to create it without {action} on '*'"


def test_the_pipe_role_may_write_its_own_log_group(all_on: dict[str, Any]) -> None:
    pipe = all_on["Resources"]["PaymentPipe"]["Properties"]
    group = pipe["LogConfiguration"]["CloudwatchLogsLogDestination"]["LogGroupArn"]
    assert group == {"Fn::GetAtt": ["PaymentPipeLogGroup", "Arn"]}
    for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
        [statement] = _allowing(all_on, "PaymentPipeRole", action, "PaymentPipeLogGroup")
        # The group's Arn attribute already ends in ":*"; appending another names no stream.
        assert statement["Resource"] == group


def _calls_on(module: Path, client: str) -> set[str]:
    """The API operations ``module`` calls on its ``client`` argument, as IAM actions."""
    calls = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == client
        ):
            calls.add(node.func.attr)
    return {"".join(part.title() for part in call.split("_")) for call in calls}


def test_the_lease_role_grants_exactly_the_calls_the_lease_makes(all_on: dict[str, Any]) -> None:
    lease = ROOT / "functions/drain_lease/lease.py"
    called = {f"dynamodb:{op}" for op in _calls_on(lease, "dynamodb")}
    assert called == {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"}
    role = _role_of(all_on, "DrainLeaseFunction")
    granted = {
        action
        for statement in _role_statements(all_on, role)
        if statement["Effect"] == "Allow"
        for action in _as_list(statement["Action"])
        if action.startswith("dynamodb:")
    }
    assert granted == called  # DeleteItem (release) included, nothing it never calls


def _via_allows(grant: dict[str, Any], service: str) -> bool:
    """A kms:ViaService condition, where there is one, names the service that uses the key."""
    via = (grant.get("Condition") or {}).get("StringEquals", {}).get("kms:ViaService")
    return via is None or f"{service}." in json.dumps(via)


def _key_of(resource: dict[str, Any]) -> str | None:
    """The logical id of the customer managed key that encrypts a resource, if any."""
    props = resource["Properties"]
    key = (
        props.get("KmsMasterKeyId")
        or (props.get("SSESpecification") or {}).get("KMSMasterKeyId")
        or (props.get("StreamEncryption") or {}).get("KeyId")
    )
    if key is None:
        return None
    [logical_id] = _references(key)
    return logical_id


def _encrypted_resources(cfn: dict[str, Any]) -> dict[str, str]:
    found = {}
    for logical_id, resource in cfn["Resources"].items():
        if resource["Type"] in {
            "AWS::SNS::Topic",
            "AWS::SQS::Queue",
            "AWS::Kinesis::Stream",
            "AWS::DynamoDB::Table",
        } and (key := _key_of(resource)):
            found[logical_id] = key
    return found


def test_every_role_that_uses_an_encrypted_resource_may_use_its_key(
    all_on: dict[str, Any],
) -> None:
    encrypted = _encrypted_resources(all_on)
    assert {"PaymentTable", "PaymentTopic", "EventStream", "StreamEventTable", "AlarmTopic"} <= set(
        encrypted
    )
    roles = [k for k, r in all_on["Resources"].items() if r["Type"] == "AWS::IAM::Role"]
    checked = []
    for resource, key in encrypted.items():
        for role in roles:
            for action, key_actions in KEY_USE.items():
                if not any(
                    _names(r, resource)
                    for s in _allowing(all_on, role, action, resource)
                    for r in _as_list(s["Resource"])
                    if r != "*"
                ):
                    continue
                checked.append((role, action, resource))
                service = action.split(":")[0]
                for key_action in key_actions:
                    grants = _allowing(all_on, role, key_action, key)
                    usable = [g for g in grants if _via_allows(g, service)]
                    assert usable, f"{role}: {action} on {resource} needs {key_action} on {key}"
    # The payment workflow's write to PaymentTable and the stream function's writes are among them.
    assert ("PaymentStateMachineRole", "dynamodb:PutItem", "PaymentTable") in checked
    assert ("ProcessStreamFunctionRole", "dynamodb:BatchWriteItem", "StreamEventTable") in checked


@pytest.mark.parametrize("tracing", ["true", "false"])
def test_payment_tracing_brings_its_xray_permission_under_the_same_condition(tracing: str) -> None:
    cfn = _resolved({"EnablePaymentPipeline": "true", "PaymentTracing": tracing})
    machine = cfn["Resources"]["PaymentStateMachine"]["Properties"]
    assert machine["TracingConfiguration"]["Enabled"] is (tracing == "true")
    role = _role_of(cfn, "PaymentStateMachine")
    for action in XRAY_ACTIONS:
        assert _allows(cfn, role, action, "*") is (tracing == "true"), action


def test_the_drain_traces_with_sams_own_xray_policy() -> None:
    cfn = _resolved({})
    assert cfn["Resources"]["DrainStateMachine"]["Properties"]["TracingConfiguration"]["Enabled"]
    role = _role_of(cfn, "DrainStateMachine")
    assert all(_allows(cfn, role, action, "*") for action in XRAY_ACTIONS)


def test_an_existing_buckets_kms_key_is_usable_by_process_object_through_s3_only() -> None:
    overrides = {"ExistingBucketName": "my-existing-bucket", "ExistingBucketKmsKeyArn": BUCKET_KEY}
    cfn = _resolved(overrides)
    role = _role_of(cfn, "ProcessObjectFunction")
    [grant] = _allowing(cfn, role, "kms:Decrypt", "ExistingBucketKmsKeyArn")
    assert grant["Resource"] == {"Ref": "ExistingBucketKmsKeyArn"}
    assert grant["Condition"] == {
        "StringEquals": {"kms:ViaService": {"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"}}
    }
    without = _resolved({"ExistingBucketName": "my-existing-bucket"})
    assert not _allows(without, role, "kms:Decrypt", "ExistingBucketKmsKeyArn")


def test_retained_resources_keep_their_keys_and_take_generated_names(
    all_on: dict[str, Any],
) -> None:
    retained = {k: r for k, r in all_on["Resources"].items() if r.get("DeletionPolicy") == "Retain"}
    assert {"PaymentTable", "StreamEventTable"} <= set(retained)
    for logical_id, resource in retained.items():
        key = _key_of(resource)
        if key is not None:
            # A key deleted with the stack would make the kept data unreadable for good.
            assert all_on["Resources"][key].get("DeletionPolicy") == "Retain", key
            assert all_on["Resources"][key].get("UpdateReplacePolicy") == "Retain", key
        if resource["Type"] == "AWS::DynamoDB::Table":
            # A fixed name would make the next deploy of the stack collide with the kept table.
            assert "TableName" not in resource["Properties"], logical_id
