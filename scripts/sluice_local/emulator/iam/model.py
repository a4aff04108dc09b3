"""The deployed stack's IAM as data: its roles (identity and trust policies), resource and key
policies, what each customer managed key encrypts, and who acts (a role's session or a service
principal). Read once after deployment; pure enough to re-decide recorded calls offline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sluice_local.emulator.iam import aws_calls
from sluice_local.emulator.iam.managed_policies import managed_policy
from sluice_local.emulator.iam.policy import (
    Caller,
    Decision,
    Request,
    Statement,
    decide,
    parse_policy,
)
from sluice_local.emulator.template import TemplateError

if TYPE_CHECKING:
    from sluice_local.emulator.iam.decisions import Decisions
    from sluice_local.emulator.runtime import LocalPipeline


class CreateRefused(TemplateError):
    """AWS would refuse to create a resource of the template for want of a permission."""


@dataclass(frozen=True)
class Principal:
    """Who acts on a thread: a role (and its session) or a service principal."""

    caller: Caller
    label: str  # the role's logical id, or the service principal's name
    session: str
    enforcer: Decisions

    @property
    def display(self) -> str:
        """As AWS names it in an AccessDenied message."""
        if self.caller.kind == "service":
            return self.caller.arn
        role_name = self.caller.arn.rsplit("/", 1)[-1]
        return f"arn:aws:sts::{self.caller.account}:assumed-role/{role_name}/{self.session}"


@dataclass(frozen=True)
class CheckedCall:
    """One distinct request that was decided: who, what, on which ARN, in which context."""

    principal: str  # role ARN or service principal name
    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()

    def request(self) -> Request:
        return Request(self.action, self.resource, dict(self.context))


@dataclass(frozen=True)
class Role:
    logical_id: str
    arn: str
    statements: tuple[Statement, ...]
    trust: tuple[Statement, ...]


@dataclass
class IamModel:
    """The deployed stack's policies, read once after deployment (pure data: it can re-decide
    recorded calls offline, e.g. with one grant removed)."""

    account: str
    region: str
    roles: dict[str, Role] = field(default_factory=dict)  # by ARN
    function_roles: dict[str, str] = field(default_factory=dict)  # function name -> role ARN
    resource_policies: dict[str, list[Statement]] = field(default_factory=dict)  # by ARN
    key_policies: dict[str, list[Statement]] = field(default_factory=dict)  # by key ARN
    encrypted: dict[str, str] = field(default_factory=dict)  # resource ARN -> CMK ARN

    def service(self, name: str) -> Caller:
        """A service principal, with the names a resource policy may give it."""
        prefix = name.split(".", 1)[0]
        return Caller(
            "service",
            name,
            self.account,
            (f"{prefix}.amazonaws.com", f"{prefix}.{self.region}.amazonaws.com"),
        )

    def caller(self, principal: str) -> Caller:
        if principal in self.roles or ":role/" in principal:
            return Caller("role", principal, self.account)
        return self.service(principal)

    @staticmethod
    def container(resource: str) -> str:
        """The ARN whose resource policy governs a resource ARN."""
        if resource.startswith("arn:aws:s3:::"):
            return resource.split("/", 1)[0]
        if resource.startswith("arn:aws:lambda:"):
            return ":".join(resource.split(":")[:7])  # without a qualifier
        return resource

    def decide(
        self, call: CheckedCall, statements: Mapping[str, Sequence[Statement]] | None = None
    ) -> Decision:
        """AWS's decision for a recorded call; ``statements`` replaces roles' identity policies."""
        caller = self.caller(call.principal)
        role = self.roles.get(call.principal)
        identity: Sequence[Statement] = ()
        if role is not None:
            identity = (statements or {}).get(call.principal, role.statements)
        if call.action.startswith("kms:") and call.resource in self.key_policies:
            return decide(
                caller,
                call.request(),
                identity,
                self.key_policies[call.resource],
                key_policy=True,
            )
        if call.action == "sts:AssumeRole" and call.resource in self.roles:
            return decide(caller, call.request(), (), self.roles[call.resource].trust)
        policy = self.resource_policies.get(self.container(call.resource), [])
        return decide(caller, call.request(), identity, policy)


@dataclass
class Refused:
    """A refused request, counted (one entry per principal, action and resource)."""

    principal: str
    action: str
    resource: str
    reason: str
    count: int = 0


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _default_key_policy(account: str) -> list[Statement]:
    """AWS's default key policy (account root may do everything): a key outside the template."""
    return parse_policy(
        {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                }
            ]
        },
        "default key policy",
        resource_policy=True,
    )


# -- the deployed stack's policies ------------------------------------------------------------
def customer_key(model: IamModel, key: str) -> str | None:
    """The ARN of a customer managed key given by id, ARN or alias; None for AWS managed keys
    (aws/sqs, aws/dynamodb, ...), whose key policies let the account's principals use them
    through their service."""
    if key.startswith("alias/aws/") or ":alias/aws/" in key:
        return None
    from moto.kms.models import kms_backends

    try:
        found = kms_backends[model.account][model.region].describe_key(key)
    except Exception:  # not in this account's emulator: a key given by ARN (a parameter)
        return key if key.startswith("arn:aws:kms:") else None
    if getattr(found, "key_manager", "CUSTOMER") != "CUSTOMER":
        return None
    arn = str(found.arn)
    model.key_policies.setdefault(arn, _default_key_policy(model.account))
    return arn


def load_model(model: IamModel, pipeline: LocalPipeline) -> None:
    from moto.awslambda.models import lambda_backends
    from moto.iam.models import iam_backends

    assert pipeline.translated is not None
    resources = pipeline.translated.cloudformation["Resources"]
    deployed = {k: v for k, v in pipeline.resources.items() if k in resources}
    iam = iam_backends[model.account]["global"]
    account, region = model.account, model.region

    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::IAM::Role" or logical_id not in deployed:
            continue
        role = iam.get_role(deployed[logical_id])
        statements: list[Statement] = []
        # Inline policies as moto's CloudFormation resolved them.
        for name, document in role.policies.items():
            statements += parse_policy(document, f"{logical_id}/{name}", resource_policy=False)
        # moto attaches no AWS managed policy: the pinned documents stand in.
        for arn in pipeline._resolved(logical_id, "ManagedPolicyArns") or []:
            name = str(arn).rsplit("/", 1)[-1]
            statements += parse_policy(
                {"Statement": managed_policy(str(arn))}, name, resource_policy=False
            )
        trust = parse_policy(
            role.assume_role_policy_document, f"{logical_id} trust policy", resource_policy=True
        )
        model.roles[role.arn] = Role(logical_id, role.arn, tuple(statements), tuple(trust))

    functions = lambda_backends[account][region]
    for logical_id in pipeline.translated.functions:
        if logical_id in deployed:
            name = deployed[logical_id]
            model.function_roles[name] = str(functions.get_function(name).role)

    def add(arn: str, statements: list[Statement]) -> None:
        model.resource_policies.setdefault(arn, []).extend(statements)

    # Resource policies: moto's CloudFormation skips queue, topic and bucket policies
    # (deploy.SUBSTITUTES), so they are read from the template, resolved as deployed.
    for logical_id, resource in resources.items():
        kind = resource["Type"]
        if kind not in (
            "AWS::SQS::QueuePolicy",
            "AWS::SNS::TopicPolicy",
            "AWS::S3::BucketPolicy",
            "AWS::Lambda::Permission",
            "AWS::KMS::Key",
        ):
            continue
        props = pipeline._resolved(logical_id)
        if props is None:
            continue
        if kind == "AWS::SQS::QueuePolicy":
            statements = parse_policy(props["PolicyDocument"], logical_id, resource_policy=True)
            for url in _as_list(props["Queues"]):
                add(aws_calls.queue_arn(str(url), region, account), statements)
        elif kind == "AWS::SNS::TopicPolicy":
            statements = parse_policy(props["PolicyDocument"], logical_id, resource_policy=True)
            for topic in _as_list(props["Topics"]):
                add(str(topic), statements)
        elif kind == "AWS::S3::BucketPolicy":
            statements = parse_policy(props["PolicyDocument"], logical_id, resource_policy=True)
            add(f"arn:aws:s3:::{props['Bucket']}", statements)
        elif kind == "AWS::Lambda::Permission":
            function = aws_calls.function_arn(str(props["FunctionName"]), region, account)
            function = IamModel.container(function)
            add(
                function,
                parse_policy(_permission_policy(props, function), logical_id, resource_policy=True),
            )
        else:
            key_arn = f"arn:aws:kms:{region}:{account}:key/{deployed[logical_id]}"
            model.key_policies[key_arn] = parse_policy(
                props["KeyPolicy"], f"{logical_id} key policy", resource_policy=True
            )

    # What each customer managed key encrypts (moto's CloudFormation drops a stream's).
    for logical_id, resource in resources.items():
        kind = resource["Type"]
        props = pipeline._resolved(logical_id) if logical_id in deployed else None
        if props is None:
            continue
        physical = deployed[logical_id]
        key: Any = None
        arn = ""
        if kind == "AWS::DynamoDB::Table":
            sse = props.get("SSESpecification") or {}
            key, arn = sse.get("KMSMasterKeyId"), aws_calls.table_arn(physical, region, account)
        elif kind == "AWS::SQS::Queue":
            key, arn = props.get("KmsMasterKeyId"), aws_calls.queue_arn(physical, region, account)
        elif kind == "AWS::SNS::Topic":
            key, arn = props.get("KmsMasterKeyId"), physical
        elif kind == "AWS::Kinesis::Stream":
            key = (props.get("StreamEncryption") or {}).get("KeyId")
            arn = aws_calls.stream_arn(physical, region, account)
        elif kind == "AWS::Logs::LogGroup":
            key, arn = props.get("KmsKeyId"), aws_calls.log_group_arn(physical, region, account)
        cmk = customer_key(model, str(key)) if key else None
        if cmk:
            model.encrypted[arn] = cmk


def _permission_policy(props: Mapping[str, Any], function_arn: str) -> dict[str, Any]:
    """An AWS::Lambda::Permission as the statement Lambda's AddPermission writes."""
    principal = str(props["Principal"])
    condition: dict[str, Any] = {}
    if props.get("SourceArn"):
        condition["ArnLike"] = {"AWS:SourceArn": str(props["SourceArn"])}
    if props.get("SourceAccount"):
        condition["StringEquals"] = {"AWS:SourceAccount": str(props["SourceAccount"])}
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": principal}
        if principal.endswith(".amazonaws.com")
        else {"AWS": principal},
        "Action": str(props["Action"]),
        "Resource": function_arn,
    }
    if condition:
        statement["Condition"] = condition
    return {"Statement": [statement]}
