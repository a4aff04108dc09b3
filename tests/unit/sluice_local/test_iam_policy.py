"""The local runtime's IAM evaluator decides as AWS's policy evaluation logic does, for what
the template uses, and refuses to guess about anything else."""

from __future__ import annotations

from typing import Any

import pytest

from sluice_local.emulator.iam.aws_calls import integration_error, requests_for
from sluice_local.emulator.iam.policy import (
    Caller,
    PolicyNotUnderstood,
    Request,
    decide,
    parse_policy,
)

ACCOUNT = "123456789012"
ROLE = Caller("role", f"arn:aws:iam::{ACCOUNT}:role/worker", ACCOUNT)
EVENTS = Caller(
    "service",
    "events.amazonaws.com",
    ACCOUNT,
    ("events.amazonaws.com", "events.us-east-1.amazonaws.com"),
)
QUEUE = f"arn:aws:sqs:us-east-1:{ACCOUNT}:objects"
RULE = f"arn:aws:events:us-east-1:{ACCOUNT}:rule/object-created"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234"
TLS = {"aws:securetransport": "true"}


def identity(*statements: dict[str, Any]) -> Any:
    return parse_policy({"Statement": list(statements)}, "role policy", resource_policy=False)


def resource(*statements: dict[str, Any]) -> Any:
    return parse_policy({"Statement": list(statements)}, "resource policy", resource_policy=True)


QUEUE_POLICY = resource(
    {
        "Sid": "AllowRuleOnly",
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": QUEUE,
        "Condition": {"ArnEquals": {"aws:SourceArn": RULE}},
    },
    {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "sqs:*",
        "Resource": QUEUE,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    },
)


def test_no_allow_is_an_implicit_deny_in_aws_words() -> None:
    decision = decide(ROLE, Request("sqs:SendMessage", QUEUE, TLS), identity())
    assert not decision.allowed
    assert (
        decision.aws_reason == "because no identity-based policy allows the sqs:SendMessage action"
    )


def test_actions_match_case_insensitively_and_resources_by_wildcard() -> None:
    grant = identity(
        {
            "Effect": "Allow",
            "Action": "SQS:send*",
            "Resource": f"arn:aws:sqs:us-east-1:{ACCOUNT}:obj*",
        }
    )
    assert decide(ROLE, Request("sqs:SendMessage", QUEUE, TLS), grant).allowed
    assert not decide(ROLE, Request("sqs:SendMessage", QUEUE + "-other", TLS), identity()).allowed


def test_a_wildcard_matches_a_key_with_a_line_break_as_aws_does() -> None:
    grant = identity(
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/incoming/*"}
    )
    inside = Request("s3:GetObject", "arn:aws:s3:::b/incoming/a\nb.csv", TLS)
    outside = Request("s3:GetObject", "arn:aws:s3:::b/other/a\nb.csv", TLS)
    assert decide(ROLE, inside, grant).allowed
    assert not decide(ROLE, outside, grant).allowed


def test_a_log_group_arn_without_its_star_names_no_stream() -> None:
    group = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/pipes/p"
    stream = f"{group}:log-stream:s"
    without = identity({"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": group})
    with_star = identity(
        {"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": f"{group}:*"}
    )
    assert not decide(ROLE, Request("logs:PutLogEvents", stream, TLS), without).allowed
    assert decide(ROLE, Request("logs:PutLogEvents", stream, TLS), with_star).allowed


def test_a_service_is_allowed_by_the_resource_policy_with_its_source_arn_only() -> None:
    from_rule = {**TLS, "aws:sourcearn": RULE, "aws:sourceaccount": ACCOUNT}
    other_rule = {**from_rule, "aws:sourcearn": RULE + "-2"}
    request = Request("sqs:SendMessage", QUEUE, from_rule)
    assert decide(EVENTS, request, (), QUEUE_POLICY).allowed
    assert not decide(
        EVENTS, Request("sqs:SendMessage", QUEUE, other_rule), (), QUEUE_POLICY
    ).allowed
    # No source ARN in the request: the condition fails, the Allow does not apply.
    assert not decide(EVENTS, Request("sqs:SendMessage", QUEUE, TLS), (), QUEUE_POLICY).allowed


def test_an_explicit_deny_wins_only_when_its_condition_holds() -> None:
    grant = identity({"Effect": "Allow", "Action": "sqs:*", "Resource": "*"})
    assert decide(ROLE, Request("sqs:ReceiveMessage", QUEUE, TLS), grant, QUEUE_POLICY).allowed
    plain = {"aws:securetransport": "false"}
    refused = decide(ROLE, Request("sqs:ReceiveMessage", QUEUE, plain), grant, QUEUE_POLICY)
    assert not refused.allowed
    assert refused.rule == "explicit deny in resource policy (DenyInsecureTransport)"
    assert refused.aws_reason == "with an explicit deny in a resource-based policy"


def test_arn_like_matches_each_part_of_the_arn_on_its_own() -> None:
    logs = Caller("service", "logs.amazonaws.com", ACCOUNT, ("logs.amazonaws.com",))
    policy = resource(
        {
            "Effect": "Allow",
            "Principal": {"Service": "logs.amazonaws.com"},
            "Action": "lambda:InvokeFunction",
            "Resource": "*",
            "Condition": {
                "ArnLike": {"AWS:SourceArn": f"arn:aws:logs:*:{ACCOUNT}:log-group:/aws/lambda/s-*"}
            },
        }
    )
    function = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:f"

    def source(arn: str) -> Request:
        return Request("lambda:InvokeFunction", function, {**TLS, "aws:sourcearn": arn})

    group = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/lambda/s-Process:*"
    assert decide(logs, source(group), (), policy).allowed
    assert not decide(logs, source(group.replace(ACCOUNT, "999999999999")), (), policy).allowed


def test_a_key_is_usable_only_through_the_service_the_grant_names() -> None:
    key_policy = resource(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    )
    grant = identity(
        {
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": KEY,
            "Condition": {"StringEquals": {"kms:ViaService": "dynamodb.us-east-1.amazonaws.com"}},
        }
    )

    def via(service: str) -> Request:
        return Request("kms:Decrypt", KEY, {**TLS, "kms:viaservice": service})

    assert decide(
        ROLE, via("dynamodb.us-east-1.amazonaws.com"), grant, key_policy, key_policy=True
    ).allowed
    assert not decide(
        ROLE, via("sqs.us-east-1.amazonaws.com"), grant, key_policy, key_policy=True
    ).allowed
    assert not decide(
        ROLE, Request("kms:Decrypt", KEY, TLS), grant, key_policy, key_policy=True
    ).allowed


def test_a_key_policy_without_the_account_statement_refuses_even_an_iam_grant() -> None:
    grant = identity({"Effect": "Allow", "Action": "kms:*", "Resource": "*"})
    refused = decide(ROLE, Request("kms:Decrypt", KEY, TLS), grant, resource(), key_policy=True)
    assert not refused.allowed
    assert refused.aws_reason == "because no resource-based policy allows the kms:Decrypt action"


@pytest.mark.parametrize(
    ("statement", "named"),
    [
        ({"Condition": {"StringNotEquals": {"aws:SourceArn": "x"}}}, "StringNotEquals"),
        ({"Condition": {"StringEqualsIfExists": {"aws:SourceArn": "x"}}}, "StringEqualsIfExists"),
        ({"Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-1"}}}, "aws:PrincipalOrgID"),
        ({"NotAction": "s3:*"}, "NotAction"),
        ({"Resource": "arn:aws:s3:::b/${aws:username}/*"}, "policy variable"),
    ],
)
def test_what_it_does_not_understand_it_refuses_naming_it(
    statement: dict[str, Any], named: str
) -> None:
    raw = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", **statement}
    with pytest.raises(PolicyNotUnderstood, match=named.replace("$", r"\$")):
        identity(raw)


def test_calls_name_the_action_and_the_arn_aws_authorises() -> None:
    def of(service: str, operation: str, **params: Any) -> list[tuple[str, str]]:
        return requests_for(service, operation, params, "us-east-1", ACCOUNT)

    assert of("s3", "GetObject", Bucket="b", Key="k", VersionId="v1") == [
        ("s3:GetObjectVersion", "arn:aws:s3:::b/k")
    ]
    assert of(
        "sqs", "DeleteMessageBatch", QueueUrl=f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/q"
    ) == [("sqs:DeleteMessage", f"arn:aws:sqs:us-east-1:{ACCOUNT}:q")]
    assert of("stepfunctions", "StartExecution", stateMachineArn="arn:sm") == [
        ("states:StartExecution", "arn:sm")
    ]
    assert of("dynamodb", "BatchWriteItem", RequestItems={"t": []}) == [
        ("dynamodb:BatchWriteItem", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/t")
    ]


def test_a_refused_task_fails_with_the_integrations_error() -> None:
    error, cause = integration_error(
        "arn:aws:states:::lambda:invoke", "AccessDeniedException", 403, "User: x is not ...", "r1"
    )
    assert error == "Lambda.AWSLambdaException"
    assert cause.startswith("User: x is not ... (Service: AWSLambda; Status Code: 403;")
    error, _ = integration_error(
        "arn:aws:states:::aws-sdk:sqs:receiveMessage", "AccessDenied", 403, "m", "r"
    )
    assert error == "Sqs.AccessDeniedException"
