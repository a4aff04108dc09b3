"""Issue 17, items 4 and 6: what AWS decides for the deployed stack's keys and trust policies.

The stack is deployed on the local runtime with every optional part on, and each request a
confused deputy could make is decided by the runtime's policy evaluator
(sluice_local.emulator.iam.enforcer, the one that enforces every local run), beside the request the
pipeline really makes. The redrive tool then runs with the operators' managed policy as its only
grant.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from sluice_local.emulator.iam.model import CheckedCall, IamModel, Principal, Role
from sluice_local.emulator.iam.policy import parse_policy
from sluice_local.emulator.runtime import LocalPipeline
from sluice_ops.redrive import copy_redrive, list_dead_letters
from testkit.pipelines import pipeline_fixture

ROOT = Path(__file__).resolve().parents[2]
REGION, ACCOUNT = "us-east-1", "123456789012"
STACK = "sluice-local"
OPERATOR = f"arn:aws:iam::{ACCOUNT}:role/operator"
SECURE = {"aws:securetransport": "true"}
VIA_SQS = {**SECURE, "kms:viaservice": f"sqs.{REGION}.amazonaws.com"}


pipeline = pipeline_fixture(
    {
        "DownstreamApiUrl": "https://127.0.0.1:9/rows",
        "SplunkHecUrl": "https://127.0.0.1:9/services/collector/event",
        "DynatraceApiUrl": "https://127.0.0.1:9/api/v2/metrics/ingest",
        "SmtpHost": "127.0.0.1",
        "SmtpPort": "465",
        "AlertFromAddress": "sluice@example.com",
        "AlertRecipients": "ops@example.com",
        "EnablePaymentPipeline": "true",
        "EnableStreamPipeline": "true",
    },
    secrets={"SplunkHecTokenSecretArn": "hec-token", "DynatraceTokenSecretArn": "dt-token"},
)


def _key(pipeline: LocalPipeline, logical_id: str) -> str:
    return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{pipeline.resources[logical_id]}"


def _allowed(model: IamModel, who: str, action: str, resource: str, **context: str) -> bool:
    call = CheckedCall(who, action, resource, tuple(sorted({**SECURE, **context}.items())))
    return model.decide(call).allowed


def test_only_the_payment_pipe_may_assume_its_role(pipeline: LocalPipeline) -> None:
    model = pipeline.iam.model
    [role] = [arn for arn, r in model.roles.items() if r.logical_id == "PaymentPipeRole"]
    pipe = f"arn:aws:pipes:{REGION}:{ACCOUNT}:pipe/{STACK}-payments"
    other = f"arn:aws:pipes:{REGION}:{ACCOUNT}:pipe/someone-elses-pipe"
    context = {"aws:sourceaccount": ACCOUNT}
    assert _allowed(
        model, "pipes.amazonaws.com", "sts:AssumeRole", role, **context, **{"aws:sourcearn": pipe}
    )
    assert not _allowed(
        model, "pipes.amazonaws.com", "sts:AssumeRole", role, **context, **{"aws:sourcearn": other}
    )


@pytest.mark.parametrize("action", ["kms:GenerateDataKey", "kms:Decrypt"])
def test_sns_may_use_the_payment_key_for_payment_topic_only(
    pipeline: LocalPipeline, action: str
) -> None:
    model, key = pipeline.iam.model, _key(pipeline, "PaymentKey")
    topic = pipeline.outputs["PaymentTopicArn"]
    other = f"arn:aws:sns:{REGION}:{ACCOUNT}:another-topic"
    assert _allowed(model, "sns.amazonaws.com", action, key, **{"aws:sourcearn": topic})
    assert not _allowed(model, "sns.amazonaws.com", action, key, **{"aws:sourcearn": other})


@pytest.mark.parametrize(
    ("action", "resource"),
    [("sns:Publish", "AlarmTopic"), ("kms:GenerateDataKey", "AlarmTopicKey")],
)
def test_the_alarm_topic_and_its_key_accept_this_accounts_regional_alarms_only(
    pipeline: LocalPipeline, action: str, resource: str
) -> None:
    model = pipeline.iam.model
    target = (
        pipeline.outputs["AlarmTopicArn"] if resource == "AlarmTopic" else _key(pipeline, resource)
    )
    account = {"aws:sourceaccount": ACCOUNT}
    ours = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{STACK}-ObjectDeadLetterAlarm"
    for source, allowed in (
        (ours, True),
        (f"arn:aws:cloudwatch:eu-west-1:{ACCOUNT}:alarm:elsewhere", False),
        (f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:dashboard/not-an-alarm", False),
    ):
        decided = _allowed(
            model,
            "cloudwatch.amazonaws.com",
            action,
            target,
            **account,
            **{"aws:sourcearn": source},
        )
        assert decided is allowed, source


def test_logs_key_serves_the_stacks_log_groups_only(pipeline: LocalPipeline) -> None:
    model, key = pipeline.iam.model, _key(pipeline, "LogsKey")
    logs = f"logs.{REGION}.amazonaws.com"
    group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:"
    ours = [
        f"{group}/aws/lambda/{STACK}-ProcessObject",
        f"{group}/aws/vendedlogs/pipes/{STACK}-payments",
        f"{group}/aws/lambda/{STACK}-ProcessStream",
    ]
    foreign = [f"{group}/aws/lambda/{STACK}-SomeoneElses", f"{group}/my-team/secrets"]
    for arn in ours + foreign:
        decided = _allowed(
            model, logs, "kms:Decrypt", key, **{"kms:encryptioncontext:aws:logs:arn": arn}
        )
        assert decided is (arn in ours), arn


def test_cloudwatch_logs_may_invoke_the_forwarder_for_subscribed_groups_only(
    pipeline: LocalPipeline,
) -> None:
    model = pipeline.iam.model
    forwarder = pipeline.outputs["SplunkForwarderFunctionArn"]
    group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:"
    account = {"aws:sourceaccount": ACCOUNT}
    for name, allowed in (
        (f"/aws/lambda/{STACK}-ProcessObject", True),
        (f"/aws/vendedlogs/states/{STACK}-drain", True),
        (f"/aws/vendedlogs/pipes/{STACK}-payments", True),
        (f"/aws/lambda/{STACK}-SomeoneElses", False),
        (f"/aws/vendedlogs/states/{STACK}-other-machine", False),
        (f"/aws/lambda/{STACK}-SplunkForwarder", False),  # never its own logs (a loop)
    ):
        source = {"aws:sourcearn": f"{group}{name}:*"}
        decided = _allowed(
            model, "logs.amazonaws.com", "lambda:InvokeFunction", forwarder, **account, **source
        )
        assert decided is allowed, name


# -- the redrive tool with RedriveOperatorPolicy as its only grant ---------------------------
def _operator(pipeline: LocalPipeline, without: str = "") -> Principal:
    """An operator role holding the deployed RedriveOperatorPolicy (less one statement)."""
    document: dict[str, Any] = pipeline._resolved("RedriveOperatorPolicy", "PolicyDocument")
    statements = [s for s in document["Statement"] if s.get("Sid") != without]
    parsed = parse_policy({"Statement": statements}, "RedriveOperatorPolicy", resource_policy=False)
    model = pipeline.iam.model
    model.roles[OPERATOR] = Role("Operator", OPERATOR, tuple(parsed), ())
    return pipeline.iam.principal_for_role(OPERATOR, "operator")


def _dead_letter_a_payment(pipeline: LocalPipeline, body: str) -> None:
    sqs = pipeline.client("sqs")
    sqs.send_message(
        QueueUrl=pipeline.outputs["PaymentDeadLetterQueueUrl"],
        MessageBody=body,
        MessageAttributes={"sluice-error": {"DataType": "String", "StringValue": "Injected"}},
    )


def test_the_operator_policy_lets_sluice_redrive_list_and_redrive_payments(
    pipeline: LocalPipeline,
) -> None:
    _dead_letter_a_payment(pipeline, json.dumps({"transactionId": "t-redrive-1"}))
    operator_sqs = boto3.session.Session(region_name=REGION).client("sqs")
    dlq, source = pipeline.outputs["PaymentDeadLetterQueueUrl"], pipeline.outputs["PaymentQueueUrl"]
    checked_before = pipeline.iam.calls_checked
    with pipeline.iam.acting_as(_operator(pipeline)):
        letters = list_dead_letters(operator_sqs, dlq, limit=10)
        assert [letter.error for letter in letters] == ["Injected"]
        report = copy_redrive(operator_sqs, dlq, source, per_second=100)
    assert report.redriven == 1
    assert pipeline.iam.calls_checked > checked_before  # the operator's calls were decided
    refused = [d for d in pipeline.iam.summary()["denied"] if d["principal"] == "Operator"]
    assert refused == []


def test_without_the_key_grant_the_operator_cannot_read_payment_dead_letters(
    pipeline: LocalPipeline,
) -> None:
    _dead_letter_a_payment(pipeline, json.dumps({"transactionId": "t-redrive-2"}))
    operator_sqs = boto3.session.Session(region_name=REGION).client("sqs")
    dlq = pipeline.outputs["PaymentDeadLetterQueueUrl"]
    operator = _operator(pipeline, without="UsePaymentKeyThroughSqs")
    with pipeline.iam.acting_as(operator), pytest.raises(ClientError) as refused:
        list_dead_letters(operator_sqs, dlq, limit=10)
    error = refused.value.response["Error"]
    assert error["Code"] == "KMS.AccessDeniedException"
    assert (
        "kms:Decrypt" in error["Message"] and pipeline.resources["PaymentKey"] in error["Message"]
    )
