"""Issue 17, items 4 and 6: sensitive queues under customer managed keys, narrow trust.

What the template says, read statically (every optional part on where it matters). What AWS
then decides for these statements is checked by the local runtime's evaluator in
tests/integration/test_keys_and_trust_decisions.py, and the strict runtime's refusals in
tests/e2e/test_keys_and_trust_runtime.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_optional_parts import ALL_ON, _resolved  # one condition resolver
from test_template import _branches  # both outcomes of an Fn::If

from sluice_local.emulator.template import load_and_translate

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = _resolved(ALL_ON)  # every optional part on, conditions resolved
RESOURCES = TEMPLATE["Resources"]
RAW = load_and_translate(ROOT / "template.yaml").cloudformation["Resources"]  # conditions kept
ROOT_PRINCIPAL = {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}
ALARMS = "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*"
SQS_VIA = {"StringEquals": {"kms:ViaService": {"Fn::Sub": "sqs.${AWS::Region}.amazonaws.com"}}}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _key_statements(logical_id: str) -> dict[str, dict[str, Any]]:
    statements = RESOURCES[logical_id]["Properties"]["KeyPolicy"]["Statement"]
    return {s["Sid"]: s for s in statements}


def _identity_statements() -> list[tuple[str, dict[str, Any]]]:
    """Every identity policy statement: roles' inline policies and managed policies."""
    found = []
    for logical_id, resource in RESOURCES.items():
        props = resource.get("Properties", {})
        documents = [p["PolicyDocument"] for p in props.get("Policies", [])]
        if resource["Type"] == "AWS::IAM::ManagedPolicy":
            documents.append(props["PolicyDocument"])
        for document in documents:
            for entry in _as_list(document["Statement"]):
                found.extend((logical_id, s) for s in _branches(entry))
    return found


@pytest.mark.parametrize(
    ("queue", "key"),
    [
        ("PaymentQueue", "PaymentKey"),
        ("PaymentDeadLetterQueue", "PaymentKey"),
        ("ObservabilityDeadLetterQueue", "ObservabilityKey"),
    ],
)
def test_sensitive_queues_are_encrypted_with_a_customer_managed_key(queue: str, key: str) -> None:
    props = RESOURCES[queue]["Properties"]
    assert props.get("KmsMasterKeyId") == {"Ref": key}
    assert "SqsManagedSseEnabled" not in props
    assert RESOURCES[key]["Type"] == "AWS::KMS::Key"
    assert RESOURCES[key]["Properties"]["EnableKeyRotation"] is True


def test_every_key_policy_keeps_the_account_root_statement() -> None:
    """AWS's default statement delegates use to IAM; without it a key can become unmanageable."""
    keys = [k for k, r in RESOURCES.items() if r["Type"] == "AWS::KMS::Key"]
    assert {"PaymentKey", "ObservabilityKey", "AlarmTopicKey", "LogsKey"} <= set(keys)
    for key in keys:
        root = _key_statements(key)["AccountAdministersTheKey"]
        assert root["Principal"] == ROOT_PRINCIPAL and root["Action"] == "kms:*", key
        assert "Condition" not in root, key


def test_sns_may_use_the_payment_key_for_payment_topic_only() -> None:
    sns = _key_statements("PaymentKey")["PaymentTopicDeliversToItsQueues"]
    assert sns["Principal"] == {"Service": "sns.amazonaws.com"}
    assert sorted(sns["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    [source] = sns["Condition"]["ArnEquals"]["aws:SourceArn"].values()
    topic_name = RESOURCES["PaymentTopic"]["Properties"]["TopicName"]["Fn::Sub"]
    assert (
        source == f"arn:${{AWS::Partition}}:sns:${{AWS::Region}}:${{AWS::AccountId}}:{topic_name}"
    )
    # No other service principal may use the key.
    services = [s for s in _key_statements("PaymentKey").values() if "Service" in s["Principal"]]
    assert services == [sns]


def test_every_grant_on_a_stack_key_is_through_a_named_service() -> None:
    """The key policies delegate to IAM, so the IAM grants carry the narrowing (kms:ViaService)."""
    keys = {k for k, r in RESOURCES.items() if r["Type"] == "AWS::KMS::Key"}
    grants = [
        (owner, s)
        for owner, s in _identity_statements()
        if s["Effect"] == "Allow"
        and any(a.startswith("kms:") for a in _as_list(s["Action"]))
        and any(json.dumps(r).split('"')[3] in keys for r in _as_list(s["Resource"]) if r != "*")
    ]
    assert len(grants) >= 9
    for owner, grant in grants:
        via = grant.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService")
        assert via, f"{owner}: {grant.get('Sid')} uses a key without kms:ViaService"


def test_the_pipe_role_decrypts_its_queue_through_sqs_only() -> None:
    policy = RESOURCES["PaymentPipeRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    [decrypt] = [s for s in policy["Statement"] if s.get("Sid") == "DecryptPaymentQueue"]
    assert decrypt["Action"] == "kms:Decrypt"
    assert decrypt["Resource"] == {"Fn::GetAtt": ["PaymentKey", "Arn"]}
    assert decrypt["Condition"] == SQS_VIA


def test_only_the_payment_pipe_may_assume_its_role() -> None:
    [trust] = RESOURCES["PaymentPipeRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "pipes.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    pipe_name = RESOURCES["PaymentPipe"]["Properties"]["Name"]["Fn::Sub"]
    assert trust["Condition"]["ArnEquals"] == {
        "aws:SourceArn": {
            "Fn::Sub": "arn:${AWS::Partition}:pipes:${AWS::Region}:${AWS::AccountId}:"
            f"pipe/{pipe_name}"
        }
    }


def test_the_alarm_topic_and_its_key_accept_this_accounts_alarms_only() -> None:
    [allow] = [
        s
        for s in RESOURCES["AlarmTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow"
    ]
    key = _key_statements("AlarmTopicKey")["CloudWatchAlarmsPublish"]
    for statement in (allow, key):
        assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
        assert statement["Condition"]["ArnLike"] == {"aws:SourceArn": {"Fn::Sub": ALARMS}}
        assert statement["Condition"]["StringEquals"] == {
            "aws:SourceAccount": {"Ref": "AWS::AccountId"}
        }


def _log_group_arn(name: Any) -> str:
    prefix = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
    return prefix + str(name["Fn::Sub"])


def test_logs_key_serves_exactly_the_stacks_log_groups_under_their_conditions() -> None:
    """Each log group the template creates, with its Condition; nothing else in the account."""
    created = {
        (r.get("Condition"), _log_group_arn(r["Properties"]["LogGroupName"]))
        for r in RAW.values()
        if r["Type"] == "AWS::Logs::LogGroup"
    }
    [logs] = [
        s
        for s in RAW["LogsKey"]["Properties"]["KeyPolicy"]["Statement"]
        if "Service" in s["Principal"]
    ]
    listed = set()
    for entry in logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]:
        if "Fn::If" in entry:
            condition, arn, otherwise = entry["Fn::If"]
            assert otherwise == {"Ref": "AWS::NoValue"}
            listed.add((condition, arn["Fn::Sub"]))
        else:
            listed.add((None, entry["Fn::Sub"]))
    assert len(created) == 14
    assert listed == created
    assert not any(arn.endswith("*") for _, arn in listed)


def test_each_subscribed_log_group_has_its_own_exact_permission() -> None:
    """CloudWatch Logs may invoke the forwarder for the stack's subscribed groups only."""
    forwarder = {"Fn::GetAtt": ["SplunkForwarderFunction", "Arn"]}
    filters = {
        k: r
        for k, r in RESOURCES.items()
        if r["Type"] == "AWS::Logs::SubscriptionFilter"
        and r["Properties"]["DestinationArn"] == forwarder
    }
    permissions = {
        k: r
        for k, r in RESOURCES.items()
        if r["Type"] == "AWS::Lambda::Permission" and r["Properties"]["FunctionName"] == forwarder
    }
    assert len(filters) == 13
    paired = set()
    for logical_id, subscription in filters.items():
        permission_id = subscription["DependsOn"]
        permission = permissions[permission_id]
        group = subscription["Properties"]["LogGroupName"]["Ref"]
        assert permission["Properties"]["SourceArn"] == {"Fn::GetAtt": [group, "Arn"]}
        assert permission["Properties"]["SourceAccount"] == {"Ref": "AWS::AccountId"}
        assert (
            permission["Properties"]["FunctionName"] == subscription["Properties"]["DestinationArn"]
        )
        assert RAW[permission_id].get("Condition") == RAW[logical_id].get("Condition"), logical_id
        paired.add(permission_id)
    assert paired == set(permissions), "a permission no subscription needs"


def test_the_redrive_operator_policy_grants_what_sluice_redrive_calls_and_no_more() -> None:
    statements = {
        s["Sid"]: s
        for entry in RESOURCES["RedriveOperatorPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        for s in _branches(entry)
    }
    dlqs = statements["HoldAndRedriveDeadLetters"]
    assert sorted(dlqs["Action"]) == [
        "sqs:ChangeMessageVisibility",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ListMessageMoveTasks",
        "sqs:ReceiveMessage",
        "sqs:StartMessageMoveTask",
    ]
    assert dlqs["Resource"] == [
        {"Fn::GetAtt": ["ObjectDeadLetterQueue", "Arn"]},
        {"Fn::GetAtt": ["PaymentDeadLetterQueue", "Arn"]},
    ]
    sources = statements["SendBackToTheSourceQueues"]
    assert sorted(sources["Action"]) == ["sqs:GetQueueAttributes", "sqs:SendMessage"]
    assert sources["Resource"] == [
        {"Fn::GetAtt": ["ObjectQueue", "Arn"]},
        {"Fn::GetAtt": ["PaymentQueue", "Arn"]},
    ]
    assert statements["UsePaymentKeyThroughSqs"]["Condition"] == SQS_VIA
    assert statements["DecryptObservabilityDeadLetters"]["Condition"] == SQS_VIA
    assert statements["DecryptObservabilityDeadLetters"]["Action"] == "kms:Decrypt"
    outputs = TEMPLATE["Outputs"]
    assert outputs["RedriveOperatorPolicyArn"]["Value"] == {"Ref": "RedriveOperatorPolicy"}


def test_without_the_payment_pipeline_the_operator_policy_names_no_payment_resource() -> None:
    cfn = _resolved({})
    assert "PaymentKey" not in cfn["Resources"]
    document = json.dumps(cfn["Resources"]["RedriveOperatorPolicy"]["Properties"])
    assert "Payment" not in document
