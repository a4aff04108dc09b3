"""The payment events pipeline's template and workflow, checked without an emulator."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from samtranslator.yaml_helper import yaml_parse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_optional_parts import _resolved  # one condition resolver

from sluice_local.emulator.iam.aws_calls import LOG_DELIVERY_ACTIONS
from sluice_local.emulator.template import load_and_translate

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = yaml_parse((ROOT / "template.yaml").read_text())
RESOURCES = TEMPLATE["Resources"]
ASL = json.loads((ROOT / "statemachine/payments.asl.json").read_text())
STEPS = ASL["States"]["EachPayment"]["ItemProcessor"]["States"]
LAMBDA_STEPS = ("ValidatePayment", "ProcessPayment", "EnrichPayment")
PAYMENT_FUNCTIONS = tuple(f"{step}Function" for step in LAMBDA_STEPS)


def _catch_targets(state: dict[str, Any]) -> dict[str, str]:
    return {error: c["Next"] for c in state.get("Catch", []) for error in c["ErrorEquals"]}


def test_every_payment_resource_exists_only_with_the_pipeline_switched_on() -> None:
    payment = [k for k in RESOURCES if "Payment" in k]
    assert len(payment) > 10
    assert TEMPLATE["Parameters"]["EnablePaymentPipeline"]["Default"] == "false"
    for logical_id in payment:
        condition = RESOURCES[logical_id].get("Condition")
        assert condition in {
            "CreatePaymentPipeline",
            "ForwardPaymentLogs",
            "CreatePaymentDashboard",
        }, logical_id


def test_the_pipe_runs_the_workflow_synchronously_from_the_queue() -> None:
    pipe = RESOURCES["PaymentPipe"]["Properties"]
    assert pipe["Source"] == {"Fn::GetAtt": ["PaymentQueue", "Arn"]}
    assert pipe["Target"] == {"Ref": "PaymentStateMachine"}
    invocation = pipe["TargetParameters"]["StepFunctionStateMachineParameters"]
    assert invocation["InvocationType"] == "REQUEST_RESPONSE"  # delete only after success
    workflow = RESOURCES["PaymentStateMachine"]["Properties"]
    assert workflow["Type"] == "EXPRESS"
    # A batch stays invisible while its synchronous execution may still run (at most 5 min).
    assert RESOURCES["PaymentQueue"]["Properties"]["VisibilityTimeout"] > 300
    assert ASL["TimeoutSeconds"] < 300
    subscription = RESOURCES["PaymentSubscription"]["Properties"]
    assert subscription["RawMessageDelivery"] is True
    assert subscription["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["PaymentDeadLetterQueue", "Arn"]
    }


def test_the_record_is_written_by_the_workflow_only_if_the_transaction_is_new() -> None:
    store = STEPS["StorePayment"]
    assert store["Resource"] == "arn:aws:states:::dynamodb:putItem"  # no function for the write
    assert store["Parameters"]["ConditionExpression"] == "attribute_not_exists(transactionId)"
    assert _catch_targets(store)["DynamoDB.ConditionalCheckFailedException"] == "LoadStoredPayment"
    # The same event again ends quietly; another event reusing the transactionId is dead-lettered.
    same = STEPS["SameEvent"]
    assert same["Choices"][0]["Next"] == "DuplicatePayment" and STEPS["DuplicatePayment"]["End"]
    assert same["Default"] == "ConflictingPayment"
    assert STEPS["ConflictingPayment"]["Next"] == "DeadLetterPayment"
    key = RESOURCES["PaymentTable"]["Properties"]["KeySchema"]
    assert key == [{"AttributeName": "transactionId", "KeyType": "HASH"}]


def test_each_step_dead_letters_with_its_name_and_redelivers_what_is_not_the_events_fault() -> None:
    for step in (*LAMBDA_STEPS, "StorePayment"):
        targets = _catch_targets(STEPS[step])
        assert targets["States.ALL"] == f"{step}Failed", step
        failed = STEPS[f"{step}Failed"]
        assert failed["Parameters"]["step"] == step and failed["Next"] == "DeadLetterPayment"
        assert "RedeliverEvent" in targets.values(), step
    # An invalid event is never retried: only Lambda's own transient errors are.
    for step in LAMBDA_STEPS:
        retried = {e for r in STEPS[step]["Retry"] for e in r["ErrorEquals"]}
        assert retried and all(e.startswith("Lambda.") for e in retried), step
        assert "InvalidPayment" not in _catch_targets(STEPS[step]), step
    assert _catch_targets(STEPS["ProcessPayment"])["FeeConfigurationError"] == "RedeliverEvent"
    assert _catch_targets(STEPS["EnrichPayment"])["ReferenceDataError"] == "RedeliverEvent"
    # If even the dead letter cannot be sent, that event (only) goes back to the pipe.
    assert _catch_targets(STEPS["DeadLetterPayment"])["States.ALL"] == "RedeliverEvent"
    attributes = STEPS["DeadLetterPayment"]["Parameters"]["MessageAttributes"]
    assert {"sluice-error", "sluice-reason", "sluice-step", "sluice-execution"} <= set(attributes)
    assert STEPS["DeadLetterPayment"]["Parameters"]["MessageBody.$"] == "$.body"


def _states(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        yield name, state
        if "ItemProcessor" in state:
            yield from _states(state["ItemProcessor"]["States"])


def test_a_fault_that_is_not_the_events_sends_back_that_event_only_not_the_batch() -> None:
    """Issue 14, defect 8: a Fail state inside the Map failed the whole execution, so PaymentPipe
    redelivered the whole batch (siblings already stored or dead-lettered came back, their dead
    letters duplicated). The execution now always succeeds with a partial batch failure output:
    ``{"batchItemFailures": [{"itemIdentifier": <SQS messageId>}]}`` naming only those events."""
    assert [name for name, state in _states(ASL["States"]) if state["Type"] == "Fail"] == []
    assert "RedeliverBatch" not in STEPS
    redeliver = STEPS["RedeliverEvent"]
    assert redeliver["Type"] == "Pass" and redeliver["End"] is True
    assert redeliver["Parameters"]["itemIdentifier.$"] == "$.messageId"  # the SQS messageId
    item = ASL["States"]["EachPayment"]["ItemSelector"]
    assert item["messageId.$"] == "$$.Map.Item.Value.messageId"
    # Only RedeliverEvent ends an iteration with an itemIdentifier; stored, duplicate and
    # dead-lettered events end without one, and no iteration carries the event body out.
    ends = {name: state for name, state in STEPS.items() if state.get("End")}
    assert set(ends) == {
        "PaymentStored",
        "DuplicatePayment",
        "PaymentDeadLettered",
        "RedeliverEvent",
    }
    for name, state in ends.items():
        assert state["Type"] == "Pass" and "Parameters" in state, name
        assert ("itemIdentifier.$" in state["Parameters"]) == (name == "RedeliverEvent"), name
        assert "$.body" not in json.dumps(state["Parameters"]), name
    each = ASL["States"]["EachPayment"]
    assert each["ResultSelector"] == {"redeliverMessageIds.$": "$[*].itemIdentifier"}
    report = ASL["States"][each["Next"]]
    assert report["Type"] == "Map" and report["End"] is True
    assert report["ItemsPath"] == "$.redeliverMessageIds"
    assert report["ItemSelector"] == {"itemIdentifier.$": "$$.Map.Item.Value"}
    assert report["ResultSelector"] == {"batchItemFailures.$": "$"}
    assert set(ASL["States"]) == {"EachPayment", "ReportBatchItemFailures"}


def test_payment_table_is_on_demand_recoverable_encrypted_and_indexed_by_merchant_and_time() -> (
    None
):
    table = RESOURCES["PaymentTable"]
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["SSESpecification"] == {
        "SSEEnabled": True,
        "SSEType": "KMS",
        "KMSMasterKeyId": {"Ref": "PaymentKey"},
    }
    [index] = props["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "ByMerchantTime"
    assert [k["AttributeName"] for k in index["KeySchema"]] == ["merchantId", "occurredAt"]
    assert table["DeletionPolicy"] == "Retain" and table["UpdateReplacePolicy"] == "Retain"


def test_payment_names_derive_from_the_stack_name() -> None:
    for logical_id, prop in (
        ("PaymentTopic", "TopicName"),
        ("PaymentQueue", "QueueName"),
        ("PaymentDeadLetterQueue", "QueueName"),
        ("PaymentPipe", "Name"),
        ("PaymentStateMachine", "Name"),
        ("PaymentWorkflowLogGroup", "LogGroupName"),
    ):
        name = RESOURCES[logical_id]["Properties"][prop]
        assert "${AWS::StackName}" in name["Fn::Sub"], logical_id


def test_payment_topic_is_encrypted_and_accepts_tls_only() -> None:
    assert RESOURCES["PaymentTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "PaymentKey"}
    assert RESOURCES["PaymentKey"]["Properties"]["EnableKeyRotation"] is True
    statements = RESOURCES["PaymentTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    deny = [s for s in statements if s["Effect"] == "Deny"]
    assert deny and deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_payment_functions_are_arm64_with_optional_reservations_and_their_own_log_group() -> None:
    cfn = load_and_translate(
        ROOT / "template.yaml", {"EnablePaymentPipeline": "true"}
    ).cloudformation
    for logical_id in PAYMENT_FUNCTIONS:
        props = cfn["Resources"][logical_id]["Properties"]
        assert props["Architectures"] == ["arm64"], logical_id
        assert props["ReservedConcurrentExecutions"] == {
            "Fn::If": [
                "HasPaymentReservation",
                {"Ref": "PaymentFunctionConcurrency"},
                {"Ref": "AWS::NoValue"},
            ]
        }
        group = RESOURCES[props["LoggingConfig"]["LogGroup"]["Ref"]]["Properties"]
        assert group["KmsKeyId"] == {"Fn::GetAtt": ["LogsKey", "Arn"]}
    assert RESOURCES["CommonLayer"]["Properties"]["CompatibleArchitectures"] == ["arm64"]
    workflow_logs = RESOURCES["PaymentWorkflowLogGroup"]["Properties"]
    assert workflow_logs["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert TEMPLATE["Parameters"]["LogRetentionDays"]["Default"] == 30


def test_the_workflow_may_write_the_table_and_the_dead_letter_queue_and_nothing_else() -> None:
    policies = RESOURCES["PaymentStateMachine"]["Properties"]["Policies"]
    statements = [s for p in policies if "Statement" in p for s in p["Statement"]]
    data = {
        (json.dumps(s["Action"]), json.dumps(s["Resource"]))
        for s in statements
        if s["Resource"] != "*"
    }
    assert data == {
        (
            json.dumps(["dynamodb:PutItem", "dynamodb:GetItem"]),
            json.dumps({"Fn::GetAtt": ["PaymentTable", "Arn"]}),
        ),
        (
            json.dumps("sqs:SendMessage"),
            json.dumps({"Fn::GetAtt": ["PaymentDeadLetterQueue", "Arn"]}),
        ),
        # The table's key, through DynamoDB only (tests/template/test_aws_permissions.py).
        (
            json.dumps(["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]),
            json.dumps({"Fn::GetAtt": ["PaymentKey", "Arn"]}),
        ),
        # The same key encrypts the dead-letter queue: through SQS only.
        (
            json.dumps(["kms:GenerateDataKey", "kms:Decrypt"]),
            json.dumps({"Fn::GetAtt": ["PaymentKey", "Arn"]}),
        ),
    }
    # Only the execution log delivery setup is on "*" (AWS documents no narrower resource).
    unscoped = {a for s in statements if s["Resource"] == "*" for a in s["Action"]}
    assert unscoped == set(LOG_DELIVERY_ACTIONS)
    invoked = {
        p["LambdaInvokePolicy"]["FunctionName"]["Ref"]
        for p in policies
        if "LambdaInvokePolicy" in p
    }
    assert invoked == set(PAYMENT_FUNCTIONS)


def test_payment_dashboard_exists_only_with_the_pipeline_and_dashboards_on() -> None:
    assert RESOURCES["PaymentDashboard"]["Condition"] == "CreatePaymentDashboard"
    assert TEMPLATE["Conditions"]["CreatePaymentDashboard"] == {
        "Fn::And": [{"Condition": "CreatePaymentPipeline"}, {"Condition": "CreateDashboard"}]
    }
    body = RESOURCES["PaymentDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(body.replace("${", "{"))["widgets"]  # placeholders aside, valid JSON
    assert len(widgets) == 4


def test_payment_functions_reserve_nothing_by_default_and_n_each_when_given() -> None:
    # A reservation must leave the account 10 unreserved: a first deploy on a small account
    # (limit 10 or 50) must not fail for the optional pipeline's sake.
    assert TEMPLATE["Parameters"]["PaymentFunctionConcurrency"]["Default"] == 0
    assert TEMPLATE["Parameters"]["PaymentFunctionConcurrency"]["MinValue"] == 0
    on = {"EnablePaymentPipeline": "true"}
    for overrides, expected in (
        (on, None),
        ({**on, "PaymentFunctionConcurrency": "0"}, None),
        ({**on, "PaymentFunctionConcurrency": "7"}, "7"),
    ):
        resources = _resolved(overrides)["Resources"]
        for logical_id in PAYMENT_FUNCTIONS:
            props = resources[logical_id]["Properties"]
            assert props.get("ReservedConcurrentExecutions") == (
                expected and {"Ref": "PaymentFunctionConcurrency"}
            ), (logical_id, overrides)
        # ProcessObject's reservation stays: it is the pipeline's hard bound.
        assert "ReservedConcurrentExecutions" in resources["ProcessObjectFunction"]["Properties"]
