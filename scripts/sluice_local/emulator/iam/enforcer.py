"""Strict local runtime: what AWS would refuse for IAM and KMS, the local runtime refuses too.

moto evaluates no IAM policy and uses no KMS key, so a missing grant passes every local run and
fails on the first real deploy. :class:`Enforcer` records every AWS call the pipeline makes with
its real resource ARN and decides it with the policies of the principal AWS would use
(:mod:`sluice_local.emulator.iam.policy`):

- a function's own calls (boto3 in its handler), as its execution role: the dispatcher sets the
  acting principal around the handler (:meth:`Enforcer.acting_as_function`) and every call a
  client makes on that thread is checked before moto sees it;
- each Step Functions Task (optimized and AWS SDK integrations), as the role of the execution's
  state machine: the Task's evaluation sets the principal on whatever thread runs it (executions
  and Map iterations run on threads of their own);
- deliveries AWS makes as a service principal, allowed by the target's resource policy:
  EventBridge rule -> SQS (with its dead-letter queue), SNS -> SQS and SNS -> Lambda,
  CloudWatch Logs subscription -> Lambda, schedules; and what a service does with a role: Pipes
  (the pipe's role), Kinesis event source mappings and Lambda on-failure destinations (the
  function's role), EventBridge schedules (the target's role);
- the use of a customer managed key by a service on the caller's behalf (kms:ViaService), for a
  table, queue, topic, stream or S3 object encrypted with one (:data:`aws_calls.KEY_USE`).

A refused call fails the way AWS fails it (the service's error code and "User: ... is not
authorized to perform: <action> on resource: <arn> because ..."); inside Step Functions the
integration's error. What AWS refuses at creation (a state machine whose role may not set up its
log delivery, a pipe or stream mapping whose role cannot reach its source, a subscription filter
Lambda may not be invoked by, a log group whose key CloudWatch Logs may not use, a role the
service may not assume) fails the deployment with AWS's message.

Calls made by the runtime itself or by tests (no acting principal, or the runtime's own clients)
are not checked. ``lenient=True`` records what would be refused and lets it through.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sluice_local.emulator.iam import aws_calls
from sluice_local.emulator.iam.aws_calls import KEY_USE, Denial
from sluice_local.emulator.iam.managed_policies import managed_policy
from sluice_local.emulator.iam.policy import (
    Caller,
    Decision,
    Request,
    Statement,
    action_matches,
    decide,
    granted_actions,
    parse_policy,
)
from sluice_local.emulator.template import TemplateError
from sluice_local.terminal import printable

if TYPE_CHECKING:
    from sluice_local.emulator.runtime import LocalPipeline

LOG = logging.getLogger("sluice_local.emulator.iam.enforcer")
_RUNTIME_CLIENT = "_sluice_runtime_client"


class CreateRefused(TemplateError):
    """AWS would refuse to create a resource of the template for want of a permission."""


@dataclass(frozen=True)
class Principal:
    """Who acts on a thread: a role (and its session) or a service principal."""

    caller: Caller
    label: str  # the role's logical id, or the service principal's name
    session: str
    enforcer: Enforcer

    @property
    def display(self) -> str:
        """As AWS names it in an AccessDenied message."""
        if self.caller.kind == "service":
            return self.caller.arn
        role_name = self.caller.arn.rsplit("/", 1)[-1]
        return f"arn:aws:sts::{self.caller.account}:assumed-role/{role_name}/{self.session}"


_acting: ContextVar[Principal | None] = ContextVar("sluice_acting_principal", default=None)
_active: Enforcer | None = None  # the running pipeline's enforcer, for moto's own deliveries
_install_lock = threading.Lock()
_installed = False


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
class _Refused:
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


class Enforcer:
    """Decides, records and (unless lenient) refuses the pipeline's AWS calls."""

    # What the runtime's emulations do with a role, as the IAM action AWS authorises (None:
    # the emulation's own bookkeeping, not a call the service makes).
    PIPE_SQS: Mapping[str, str | None] = {
        "receive_message": "sqs:ReceiveMessage",
        "delete_message_batch": "sqs:DeleteMessage",
        "change_message_visibility": None,  # Pipes lets the visibility timeout run out
    }
    PIPE_SFN: Mapping[str, str | None] = {
        # moto has no StartSyncExecution: the runner starts and polls, AWS's call is this.
        "start_execution": "states:StartSyncExecution",
        "describe_execution": None,
    }
    POLLER_KINESIS: Mapping[str, str | None] = {
        "list_shards": "kinesis:ListShards",
        "get_shard_iterator": "kinesis:GetShardIterator",
        "get_records": "kinesis:GetRecords",
    }
    POLLER_SQS: Mapping[str, str | None] = {"send_message": "sqs:SendMessage"}

    def __init__(self, *, region: str, account: str, lenient: bool = False) -> None:
        self.lenient = lenient
        self.model = IamModel(account=account, region=region)
        self._lock = threading.Lock()
        self._calls: Counter[CheckedCall] = Counter()  # allowed, distinct
        self._refused: dict[tuple[str, str, str], _Refused] = {}
        self.calls_checked = 0
        self.denied_calls = 0
        self._pipeline: LocalPipeline | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def activate(self) -> None:
        global _active
        install()
        _active = self

    def deactivate(self) -> None:
        global _active
        if _active is self:
            _active = None

    @staticmethod
    def exempt(client: Any) -> Any:
        """Mark a client as the runtime's own: its calls stand in for AWS's and are not checked."""
        setattr(client, _RUNTIME_CLIENT, True)
        return client

    def attach(self, pipeline: LocalPipeline) -> None:
        """Read the deployed stack's roles, resource and key policies, then check what AWS
        checks when it creates them (roles their services may assume, log group keys)."""
        self._pipeline = pipeline
        _load_model(self.model, pipeline)
        self._check_deployment(pipeline)

    # -- deciding --------------------------------------------------------------------------
    def principal_for_role(self, role_arn: str, session: str) -> Principal:
        role = self.model.roles.get(role_arn)
        label = role.logical_id if role else role_arn.rsplit("/", 1)[-1]
        return Principal(Caller("role", role_arn, self.model.account), label, session, self)

    def principal_for_service(self, name: str) -> Principal:
        return Principal(self.model.service(name), name, name, self)

    def check(
        self, principal: Principal, action: str, resource: str, context: Mapping[str, str]
    ) -> Decision:
        """Decide one request and record it."""
        call = CheckedCall(principal.caller.arn, action, resource, tuple(sorted(context.items())))
        decision = self.model.decide(call)
        with self._lock:
            self.calls_checked += 1
            if decision.allowed:
                self._calls[call] += 1
                return decision
            self.denied_calls += 1
            key = (principal.label, action, resource)
            refused = self._refused.get(key)
            # One log line per principal and action: a run may refuse it for every object.
            first = not any(k[:2] == key[:2] for k in self._refused)
            if refused is None:
                reason = aws_calls.not_authorized(
                    principal.display, action, resource, decision.aws_reason
                )
                refused = self._refused[key] = _Refused(
                    principal.label, action, resource, f"{reason} [{decision.rule}]"
                )
            refused.count += 1
        if first:
            verb = "would refuse" if self.lenient else "refused"
            LOG.warning(
                "IAM %s %s %s on %s: %s", verb, principal.label, action, resource, decision.rule
            )
        return decision

    def _context(self, secure: bool = True, **keys: str) -> dict[str, str]:
        context = {"aws:securetransport": "true" if secure else "false"}
        context.update({k.replace("__", ":").lower(): v for k, v in keys.items()})
        return context

    def _service_context(self, source_arn: str | None) -> dict[str, str]:
        context = self._context()
        if source_arn:
            context["aws:sourcearn"] = source_arn
            context["aws:sourceaccount"] = self.model.account
        return context

    def key_of(self, resource: str) -> str | None:
        """The customer managed key that encrypts a resource, if any."""
        if resource.startswith("arn:aws:s3:::") and "/" in resource:
            return self._object_key(resource)
        return self.model.encrypted.get(resource)

    def _object_key(self, resource: str) -> str | None:
        from moto.s3.models import s3_backends

        bucket_name, _, key_name = resource.removeprefix("arn:aws:s3:::").partition("/")
        bucket = s3_backends[self.model.account]["global"].buckets.get(bucket_name)
        obj = bucket.keys.get(key_name) if bucket is not None else None
        if obj is None or obj.encryption != "aws:kms" or not obj.kms_key_id:
            return None
        return _customer_key(self.model, str(obj.kms_key_id))

    def _key_checks(
        self, principal: Principal, action: str, resource: str, service: str, secure: bool
    ) -> tuple[str, Decision] | None:
        """The use of the resource's customer managed key by ``service`` on the caller's behalf;
        the first refused KMS action, if any."""
        key = self.key_of(resource)
        if key is None:
            return None
        via = self._context(secure, kms__viaservice=f"{service}.{self.model.region}.amazonaws.com")
        for key_action in KEY_USE.get(action, ()):
            decision = self.check(principal, key_action, key, via)
            if not decision.allowed:
                return key_action, decision
        return None

    # -- the handlers' and Step Functions' own calls ---------------------------------------
    def before_call(self, principal: Principal, client: Any, operation: str, params: Any) -> None:
        """Check one API call of a client on a thread where ``principal`` acts; raise the
        service's AccessDenied when AWS would refuse it."""
        boto_service = client.meta.service_model.service_name
        service = aws_calls.iam_prefix(boto_service)
        region = client.meta.region_name or self.model.region
        secure = str(client.meta.endpoint_url).startswith("https")
        requests = aws_calls.requests_for(
            boto_service,
            operation,
            params,
            region,
            self.model.account,
            secret_arn=self._secret_arn,
            key_arn=lambda k: _customer_key(self.model, k) or k,
        )
        for action, resource in requests:
            decision = self.check(principal, action, resource, self._context(secure))
            if not decision.allowed:
                self._refuse(client, operation, principal, action, resource, decision)
            refused = self._key_checks(principal, action, resource, service, secure)
            if refused is not None:
                key_action, key_decision = refused
                key = self.key_of(resource) or ""
                self._refuse(
                    client, operation, principal, key_action, key, key_decision, kms_for=service
                )

    def after_missing_object(
        self, principal: Principal, client: Any, operation: str, params: Any
    ) -> None:
        """S3 answers 404 for a missing key only to a caller that may list the bucket; to
        others it answers 403 AccessDenied (S3 docs, GetObject "Permissions")."""
        bucket = f"arn:aws:s3:::{params.get('Bucket')}"
        decision = self.check(principal, "s3:ListBucket", bucket, self._context())
        if not decision.allowed:
            self._refuse(client, operation, principal, "s3:ListBucket", bucket, decision)

    def _refuse(
        self,
        client: Any,
        operation: str,
        principal: Principal,
        action: str,
        resource: str,
        decision: Decision,
        *,
        kms_for: str | None = None,
    ) -> None:
        if self.lenient:
            return
        service = kms_for or aws_calls.iam_prefix(client.meta.service_model.service_name)
        denial = aws_calls.denial_for(service, kms=kms_for is not None)
        message = aws_calls.not_authorized(principal.display, action, resource, decision.aws_reason)
        raise _client_error(client, operation, denial, message)

    def _secret_arn(self, secret_id: str) -> str:
        if secret_id.startswith("arn:"):
            return secret_id
        from moto.secretsmanager.models import secretsmanager_backends

        backend = secretsmanager_backends[self.model.account][self.model.region]
        try:
            return str(backend.describe_secret(secret_id).arn)
        except Exception:  # a secret that does not exist: AWS authorises its would-be ARN
            model = self.model
            return f"arn:aws:secretsmanager:{model.region}:{model.account}:secret:{secret_id}"

    # -- acting principals -----------------------------------------------------------------
    @contextmanager
    def acting_as_function(self, function_name: str) -> Iterator[None]:
        """Around a handler: its calls are its execution role's (session: the function name)."""
        role = self.model.function_roles.get(function_name)
        if role is None:
            yield
            return
        token = _acting.set(self.principal_for_role(role, function_name))
        try:
            yield
        finally:
            _acting.reset(token)

    @contextmanager
    def acting_as(self, principal: Principal) -> Iterator[None]:
        """Calls made on this thread are ``principal``'s (e.g. an operator's role running an
        operator tool in a test)."""
        token = _acting.set(principal)
        try:
            yield
        finally:
            _acting.reset(token)

    def function_principal(self, function_name: str) -> Principal:
        return self.principal_for_role(self.model.function_roles[function_name], function_name)

    def checked_client(
        self, client: Any, principal: Principal, actions: Mapping[str, str | None]
    ) -> Any:
        """A runtime client used on a role's behalf (a pipe, a stream mapping's poller): each
        method in ``actions`` is first checked as that IAM action on the call's resource
        (``None``: the runtime's own emulation, not a call AWS makes)."""
        return _CheckedClient(self, client, principal, actions)

    # -- what AWS checks when it creates resources -------------------------------------------
    def _create_refused(self, what: str, message: str) -> None:
        if self.lenient:
            LOG.warning("AWS would refuse to create %s: %s", what, message)
            return
        raise CreateRefused(f"{what}: {message}")

    def _require(
        self,
        principal: Principal,
        actions: Sequence[str],
        resource: str,
        context: Mapping[str, str] | None = None,
    ) -> list[str]:
        """Each action on the resource; what is refused, each as a line naming the rule."""
        refused = []
        for action in actions:
            decision = self.check(principal, action, resource, context or self._context())
            if not decision.allowed:
                refused.append(f"{action} on {resource} ({decision.rule})")
        return refused

    def _trusts(
        self, role_arn: str, service: str, context: Mapping[str, str] | None = None
    ) -> bool:
        principal = self.principal_for_service(service)
        ctx = dict(context or self._context())
        return self.check(principal, "sts:AssumeRole", role_arn, ctx).allowed

    def _check_deployment(self, pipeline: LocalPipeline) -> None:
        assert pipeline.translated is not None
        for function_name, role_arn in self.model.function_roles.items():
            if not self._trusts(role_arn, "lambda.amazonaws.com"):
                self._create_refused(
                    function_name, "The role defined for the function cannot be assumed by Lambda."
                )
        # CreateFunction of a function in a VPC: Lambda checks that the role may manage its
        # network interfaces.
        for logical_id in pipeline.translated.functions:
            name = pipeline.resources.get(logical_id, "")
            if name not in self.model.function_roles:
                continue
            vpc = pipeline._resolved(logical_id, "VpcConfig")
            if not vpc or not vpc.get("SubnetIds"):
                continue
            role = self.principal_for_role(self.model.function_roles[name], "CreateFunction")
            refused = self._require(role, aws_calls.VPC_NETWORK_INTERFACE_ACTIONS, "*")
            if refused:
                self._create_refused(
                    logical_id, f"{aws_calls.VPC_ROLE_REFUSED} [" + "; ".join(refused) + "]"
                )
        logs = self.principal_for_service(f"logs.{self.model.region}.amazonaws.com")
        for group_arn, key_arn in self.model.encrypted.items():
            if ":log-group:" not in group_arn:
                continue
            context = self._context(kms__encryptioncontext__aws__logs__arn=group_arn)
            if self._require(logs, aws_calls.LOG_GROUP_KEY_USE, key_arn, context):
                self._create_refused(
                    group_arn,
                    "The specified KMS key does not exist or is not allowed to be used with "
                    f"Arn '{group_arn}' (AccessDeniedException)",
                )

    def check_state_machine(
        self, logical_id: str, role_arn: str, logging_config: Mapping[str, Any]
    ) -> None:
        """CreateStateMachine: Step Functions must be able to assume the role, and a state
        machine that logs needs the log-delivery permissions on "*"."""
        if not self._trusts(role_arn, "states.amazonaws.com"):
            self._create_refused(
                logical_id,
                "Neither the global service principal states.amazonaws.com, nor the regional one "
                "is authorized to assume the provided role. (AccessDeniedException)",
            )
        if logging_config.get("Level", "OFF") == "OFF" or not logging_config.get("Destinations"):
            return
        principal = self.principal_for_role(role_arn, "CreateStateMachine")
        refused = self._require(principal, aws_calls.LOG_DELIVERY_ACTIONS, "*")
        if refused:
            self._create_refused(
                logical_id,
                f"{aws_calls.LOG_DESTINATION_REFUSED} (Service: AWSStepFunctions; Status Code: 400;"
                f" Error Code: AccessDeniedException) [{principal.label}: "
                + "; ".join(refused)
                + "]",
            )

    def check_pipe(self, logical_id: str, props: Mapping[str, Any]) -> Principal:
        """A pipe starts only if Pipes may assume its role and the role reaches its source,
        target and log destination (else AWS leaves it CREATE_FAILED, failing the stack)."""
        role_arn = str(props["RoleArn"])
        # Pipes assumes the role on the pipe's behalf: aws:SourceArn is the pipe's ARN.
        pipe_arn = (
            f"arn:aws:pipes:{self.model.region}:{self.model.account}:"
            f"pipe/{props.get('Name') or logical_id}"
        )
        trust_context = self._context(
            aws__sourceaccount=self.model.account, aws__sourcearn=pipe_arn
        )
        if not self._trusts(role_arn, "pipes.amazonaws.com", trust_context):
            self._create_refused(logical_id, "pipes.amazonaws.com may not assume the pipe's role")
        principal = self.principal_for_role(role_arn, logical_id)
        refused = self._require(principal, aws_calls.PIPE_SOURCE_ACTIONS, str(props["Source"]))
        invocation = (
            props.get("TargetParameters", {})
            .get("StepFunctionStateMachineParameters", {})
            .get("InvocationType", "FIRE_AND_FORGET")
        )
        start = (
            "states:StartSyncExecution"
            if invocation == "REQUEST_RESPONSE"
            else "states:StartExecution"
        )
        refused += self._require(principal, (start,), str(props["Target"]))
        group = (
            props.get("LogConfiguration", {})
            .get("CloudwatchLogsLogDestination", {})
            .get("LogGroupArn")
        )
        if group:
            stream = f"{str(group).removesuffix(':*')}:log-stream:{logical_id}"
            refused += self._require(principal, aws_calls.PIPE_LOG_ACTIONS, stream)
        if refused:
            self._create_refused(
                logical_id,
                f"the pipe cannot start (CREATE_FAILED): its role {principal.label} may not "
                + "; ".join(refused),
            )
        return principal

    def check_stream_mapping(
        self, logical_id: str, function_name: str, stream_arn: str, destination: str | None
    ) -> Principal:
        """CreateEventSourceMapping on a stream: the function's role must read the stream and
        send to the on-failure destination."""
        principal = self.function_principal(function_name)
        if self._require(principal, aws_calls.STREAM_MAPPING_ACTIONS, stream_arn):
            self._create_refused(
                logical_id,
                f"Cannot access stream {stream_arn}. Please ensure the role can perform the "
                "GetRecords, GetShardIterator, DescribeStream, and ListStreams Actions on your "
                "stream in IAM. (InvalidParameterValueException)",
            )
        if destination:
            self.check_destination(logical_id, function_name, destination)
        return principal

    def check_destination(self, what: str, function_name: str, queue_arn: str) -> None:
        """An SQS on-failure destination: Lambda sends with the function's role."""
        principal = self.function_principal(function_name)
        if self._require(principal, ("sqs:SendMessage",), queue_arn):
            self._create_refused(
                what,
                "The function execution role does not have permissions to call SendMessage on "
                f"{queue_arn} (InvalidParameterValueException)",
            )

    def check_subscription_filter(self, what: str, log_group: str, destination: str) -> None:
        """PutSubscriptionFilter to a function: CloudWatch Logs must be allowed to invoke it."""
        if ":lambda:" not in destination:
            return
        if not self._logs_may_invoke(log_group, destination):
            self._create_refused(
                what,
                "Could not execute the lambda function. Make sure you have given CloudWatch Logs "
                "permission to execute your function. (InvalidParameterException)",
            )

    def _logs_may_invoke(self, log_group: str, function_arn: str) -> bool:
        source = aws_calls.log_group_arn(log_group, self.model.region, self.model.account) + ":*"
        principal = self.principal_for_service("logs.amazonaws.com")
        decision = self.check(
            principal, "lambda:InvokeFunction", function_arn, self._service_context(source)
        )
        return decision.allowed

    # -- what services do at run time ------------------------------------------------------
    def schedule_target_allowed(self, rule_arn: str, target: Mapping[str, Any]) -> bool:
        """An EventBridge schedule starts its target with the target's role (state machines)
        or as events.amazonaws.com allowed by the function's permission (Lambda)."""
        arn = str(target["Arn"])
        if ":states:" in arn:
            role = target.get("RoleArn")
            if not role or not self._trusts(str(role), "events.amazonaws.com"):
                return self.lenient  # EventBridge cannot act as the target's role
            principal = self.principal_for_role(str(role), "scheduler")
            allowed = self.check(principal, "states:StartExecution", arn, self._context()).allowed
        else:
            principal = self.principal_for_service("events.amazonaws.com")
            context = self._service_context(rule_arn)
            allowed = self.check(principal, "lambda:InvokeFunction", arn, context).allowed
        return allowed or self.lenient

    def on_failure_allowed(self, queue_url: str, body: str) -> bool:
        """A Lambda on-failure record: sent with the role of the function that failed, which
        also needs the queue's customer managed key through SQS (as any SQS producer)."""
        try:
            function_arn = json.loads(body)["requestContext"]["functionArn"]
        except (ValueError, KeyError, TypeError):
            return True
        function_name = str(function_arn).split(":")[6]
        if function_name not in self.model.function_roles:
            return True
        principal = self.function_principal(function_name)
        queue = aws_calls.queue_arn(queue_url, self.model.region, self.model.account)
        decision = self.check(principal, "sqs:SendMessage", queue, self._context())
        if decision.allowed and self._key_checks(principal, "sqs:SendMessage", queue, "sqs", True):
            return self.lenient  # Lambda counts a DestinationDeliveryFailures; nothing is sent
        return decision.allowed or self.lenient

    def guard_on_failure(self, send: Callable[[str, str], Any]) -> Callable[[str, str], None]:
        """Lambda's on-failure destination: sent only if the function's role may send it."""

        def send_if_allowed(queue_url: str, body: str) -> None:
            if self.on_failure_allowed(queue_url, body):
                send(queue_url, body)

        return send_if_allowed

    def guard_log_shipper(
        self, ship: Callable[[Any, list[str]], None]
    ) -> Callable[[Any, list[str]], None]:
        """A function's output reaches its log group (and EMF its metrics) only if its role may
        write there; AWS drops it otherwise, and the invocation still succeeds."""

        def ship_if_allowed(runtime: Any, lines: list[str]) -> None:
            group = runtime.log_group or f"/aws/lambda/{runtime.function_name}"
            stream = time.strftime("%Y/%m/%d/[$LATEST]", time.gmtime()) + runtime.function_name
            if self.log_shipping_allowed(runtime.function_name, group, stream):
                ship(runtime, lines)

        return ship_if_allowed

    def log_shipping_allowed(self, function_name: str, log_group: str, stream: str) -> bool:
        """Lambda writes a function's output to its log group with the function's role."""
        if function_name not in self.model.function_roles:
            return True
        principal = self.function_principal(function_name)
        resource = aws_calls.log_stream_arn(
            log_group, stream, self.model.region, self.model.account
        )
        refused = self._require(principal, aws_calls.PIPE_LOG_ACTIONS, resource)
        return not refused or self.lenient

    def service_delivery_allowed(
        self, service: str, action: str, target: str, source_arn: str
    ) -> tuple[bool, str]:
        """A delivery a service makes on a resource's behalf (aws:SourceArn), allowed by the
        target's resource policy, and the use of the target's key by that service."""
        principal = self.principal_for_service(service)
        decision = self.check(principal, action, target, self._service_context(source_arn))
        if decision.allowed:
            key = self.key_of(target)
            for key_action in KEY_USE.get(action, ()) if key else ():
                decision = self.check(
                    principal, key_action, str(key), self._service_context(source_arn)
                )
                if not decision.allowed:
                    action, target = key_action, str(key)
                    break
        reason = aws_calls.not_authorized(service, action, target, decision.aws_reason)
        return decision.allowed or self.lenient, reason

    # -- report ----------------------------------------------------------------------------
    def calls(self) -> list[CheckedCall]:
        """Every distinct request that was allowed (creation checks included)."""
        with self._lock:
            return list(self._calls)

    def summary(self) -> dict[str, Any]:
        """What was checked and refused, and per role the actions granted beside those used."""
        with self._lock:
            allowed = list(self._calls)
            refused = [vars(r).copy() for r in self._refused.values()]
            checked, denied = self.calls_checked, self.denied_calls
        used: dict[str, set[str]] = {}
        for call in allowed:
            used.setdefault(call.principal, set()).add(call.action)
        roles: dict[str, Any] = {}
        for arn, role in sorted(self.model.roles.items(), key=lambda item: item[1].logical_id):
            granted = granted_actions(role.statements)
            role_used = sorted(used.get(arn, set()))
            roles[role.logical_id] = {
                "arn": arn,
                "granted": granted,
                "used": role_used,
                "granted_unused": [
                    g for g in granted if not any(action_matches(g, u) for u in role_used)
                ],
            }
        return {
            "enforced": not self.lenient,
            "calls_checked": checked,
            "denied_calls": denied,
            "denied": sorted(refused, key=lambda r: (r["principal"], r["action"], r["resource"])),
            "roles": roles,
        }


def format_report(summary: Mapping[str, Any]) -> str:
    """Per role, the actions granted beside those used (``sluice-local iam-report``)."""
    refused = list(summary.get("denied", []))
    denied = summary.get("denied_calls", sum(int(r.get("count", 1)) for r in refused))
    mode = "enforced" if summary.get("enforced", True) else "lenient: nothing refused"
    lines = [f"IAM calls checked {summary.get('calls_checked', 0)}, denied {denied} ({mode})"]
    for entry in refused:
        # A refusal names the resource: an object ARN ends in a key an uploader chose.
        lines.append(f"  DENIED x{entry.get('count', 1)}: {printable(entry['reason'])}")
    for role, actions in summary.get("roles", {}).items():
        used = list(actions.get("used", []))
        lines.append(f"\n{role}")
        for action in actions.get("granted", []):
            mark = "used" if any(action_matches(action, u) for u in used) else "UNUSED"
            lines.append(f"  {mark:6}  {action}")
    return "\n".join(lines)


def report_main(path: str, out: Any = None) -> int:
    """``sluice-local iam-report [REPORT]``: the IAM part of a run's report (the "iam" key of
    .demo/report.json, or a file holding :meth:`Enforcer.summary` itself)."""
    import sys
    from pathlib import Path

    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        print(f"cannot read {path}: {error} (run sluice-local demo first)", file=sys.stderr)
        return 2
    summary = document.get("iam", document)
    print(format_report(summary), file=out or sys.stdout)
    return 1 if summary.get("denied") else 0


# -- the deployed stack's policies ------------------------------------------------------------
def _customer_key(model: IamModel, key: str) -> str | None:
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


def _load_model(model: IamModel, pipeline: LocalPipeline) -> None:
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
    # (runtime.SUBSTITUTES), so they are read from the template, resolved as deployed.
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
        customer_key = _customer_key(model, str(key)) if key else None
        if customer_key:
            model.encrypted[arn] = customer_key


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


def _client_error(client: Any, operation: str, denial: Denial, message: str) -> Exception:
    request_id = str(uuid.uuid4())
    response = {
        "Error": {"Code": denial.code, "Message": message, "Type": "Sender"},
        "ResponseMetadata": {"HTTPStatusCode": denial.status, "RequestId": request_id},
    }
    error: Exception = client.exceptions.from_code(denial.code)(response, operation)
    error.sluice_denial = (denial, message, request_id)  # type: ignore[attr-defined]
    return error


class _CheckedClient:
    """A runtime client acting for a role: mapped methods are checked as the IAM action AWS
    authorises for what the service does; the rest pass through."""

    def __init__(
        self,
        enforcer: Enforcer,
        client: Any,
        principal: Principal,
        actions: Mapping[str, str | None],
    ) -> None:
        self._enforcer = enforcer
        self._client = client
        self._principal = principal
        self._actions = dict(actions)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if name not in self._actions or self._actions[name] is None:
            return method
        action = str(self._actions[name])
        enforcer, client, principal = self._enforcer, self._client, self._principal

        def checked(**params: Any) -> Any:
            operation = client.meta.method_to_api_mapping.get(name, name)
            [(_, resource)] = aws_calls.requests_for(
                client.meta.service_model.service_name,
                operation,
                params,
                client.meta.region_name,
                enforcer.model.account,
            )
            decision = enforcer.check(principal, action, resource, enforcer._context())
            if not decision.allowed:
                enforcer._refuse(client, operation, principal, action, resource, decision)
            service = action.split(":", 1)[0]
            refused = enforcer._key_checks(principal, action, resource, service, True)
            if refused is not None:
                key_action, key_decision = refused
                key = enforcer.key_of(resource) or ""
                enforcer._refuse(
                    client, operation, principal, key_action, key, key_decision, kms_for=service
                )
            return method(**params)

        return checked


# -- hooks into botocore and moto (installed once; inert while no pipeline is active) --------
def install() -> None:
    global _installed
    with _install_lock:
        if _installed:
            return
        _installed = True
        _install_log_group_arn()
        _install_botocore()
        _install_step_functions()
        _install_deliveries()


def _install_log_group_arn() -> None:
    """CloudFormation's Fn::GetAtt LogGroup.Arn ends in ":*" (AWS::Logs::LogGroup return values);
    moto's does not. A policy granting logs:PutLogEvents on it covers the group's streams only
    with the ":*", so without it every such grant would be refused here and not on AWS."""
    from moto.logs.models import LogGroup

    original = LogGroup.get_cfn_attribute

    def get_cfn_attribute(self: Any, attribute_name: str) -> str:
        if attribute_name == "Arn":
            return f"{self.arn}:*"
        return str(original(self, attribute_name))

    setattr(LogGroup, "get_cfn_attribute", get_cfn_attribute)  # noqa: B010


def _acting_principal() -> Principal | None:
    """The principal of the calling thread: set explicitly (a Step Functions Task, a service's
    delivery), else the function whose invocation runs on it (its sandbox, set by the
    dispatcher around the handler; the platform's own work runs outside any sandbox)."""
    principal = _acting.get()
    enforcer = _active
    if principal is not None or enforcer is None:
        return principal
    from sluice_local.emulator import sandbox

    box = sandbox.current()
    if box is None or box.function_name not in enforcer.model.function_roles:
        return None
    return enforcer.function_principal(box.function_name)


def _install_botocore() -> None:
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError

    original = getattr(BaseClient, "_make_api_call")  # noqa: B009 - private, not in the stubs

    def _make_api_call(self: Any, operation_name: str, api_params: Any) -> Any:
        principal = _acting_principal()
        if principal is None or getattr(self, _RUNTIME_CLIENT, False):
            return original(self, operation_name, api_params)
        principal.enforcer.before_call(principal, self, operation_name, api_params)
        try:
            return original(self, operation_name, api_params)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if operation_name in ("GetObject", "HeadObject") and code in ("NoSuchKey", "404"):
                principal.enforcer.after_missing_object(principal, self, operation_name, api_params)
            raise

    setattr(BaseClient, "_make_api_call", _make_api_call)  # noqa: B010


def _install_step_functions() -> None:
    """Each Task acts as its execution's role, on the thread that evaluates it; a refused
    service call fails the Task with the integration's error."""
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import (
        CustomErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import (
        state_task_lambda,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service,
        state_task_service_factory,  # noqa: F401 - imports every integration class
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import StateTask

    def acting(original: Callable[..., Any]) -> Callable[..., Any]:
        def _eval_execution(self: Any, env: Any) -> Any:
            enforcer = _active
            if enforcer is None:
                return original(self, env)
            execution = env.states.context_object.context_object_data["Execution"]
            principal = enforcer.principal_for_role(
                str(execution["RoleArn"]), str(execution["Name"])
            )
            token = _acting.set(principal)
            try:
                return original(self, env)
            finally:
                _acting.reset(token)

        return _eval_execution

    for cls in (state_task_service.StateTaskService, state_task_lambda.StateTaskLambda):
        setattr(cls, "_eval_execution", acting(cls.__dict__["_eval_execution"]))  # noqa: B010

    def refused(original: Callable[..., Any]) -> Callable[..., Any]:
        def _from_error(self: Any, env: Any, ex: Exception) -> Any:
            detail = getattr(ex, "sluice_denial", None)
            if detail is None:
                return original(self, env, ex)
            denial, message, request_id = detail
            resource_arn = str(getattr(getattr(self, "resource", None), "resource_arn", ""))
            error, cause = aws_calls.integration_error(
                resource_arn, denial.code, denial.status, message, request_id
            )
            get_resource = getattr(self, "_get_sfn_resource", None)
            get_type = getattr(self, "_get_sfn_resource_type", None)
            details: Any = dict(  # moto's EventDetails TypedDict
                taskFailedEventDetails=TaskFailedEventDetails(
                    error=error,
                    cause=cause,
                    resource=get_resource() if get_resource else resource_arn,
                    resourceType=get_type() if get_type else "lambda",
                )
            )
            return FailureEvent(
                env=env,
                error_name=CustomErrorName(error),
                event_type=HistoryEventType.TaskFailed,
                event_details=details,
            )

        return _from_error

    pending: list[type] = [StateTask]
    while pending:
        task_class = pending.pop()
        pending.extend(task_class.__subclasses__())
        if "_from_error" in task_class.__dict__:
            setattr(task_class, "_from_error", refused(task_class.__dict__["_from_error"]))  # noqa: B010


def _install_deliveries() -> None:
    """What AWS services deliver as service principals, which moto does without asking."""
    from moto.awslambda.models import LambdaBackend
    from moto.events.models import Rule
    from moto.sns.models import Subscription
    from moto.sqs.models import sqs_backends

    send_to_queue = Rule._send_to_sqs_queue

    def _send_to_sqs_queue(self: Any, resource_id: str, event: Any, group_id: Any = None) -> None:
        enforcer = _active
        if enforcer is None:
            return send_to_queue(self, resource_id, event, group_id)
        queue = f"arn:aws:sqs:{self.region_name}:{self.account_id}:{resource_id}"
        allowed, reason = enforcer.service_delivery_allowed(
            "events.amazonaws.com", "sqs:SendMessage", queue, self.arn
        )
        if allowed:
            return send_to_queue(self, resource_id, event, group_id)
        # A permission error is not retried: the event goes straight to the target's
        # dead-letter queue, if EventBridge may send there (EventBridge docs, rule DLQs).
        target: dict[str, Any] = next((t for t in self.targets if t["Arn"] == queue), {})
        dlq = (target.get("DeadLetterConfig") or {}).get("Arn")
        if not dlq:
            return None
        dlq_allowed, _ = enforcer.service_delivery_allowed(
            "events.amazonaws.com", "sqs:SendMessage", str(dlq), self.arn
        )
        if not dlq_allowed:
            return None
        body = dict(event)
        if isinstance(body.get("time"), int | float):
            body["time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(body["time"])))
        attributes = {
            "RULE_ARN": self.arn,
            "TARGET_ARN": queue,
            "ERROR_CODE": "NO_PERMISSIONS",
            "ERROR_MESSAGE": reason,
        }
        sqs_backends[self.account_id][self.region_name].send_message(
            str(dlq).rsplit(":", 1)[-1],
            json.dumps(body),
            message_attributes={
                k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()
            },
        )
        return None

    Rule._send_to_sqs_queue = _send_to_sqs_queue  # type: ignore[method-assign]

    publish = Subscription.publish

    def publish_checked(
        self: Any, message: str, message_id: str, *args: Any, **kwargs: Any
    ) -> None:
        enforcer = _active
        if enforcer is None or self.protocol not in ("sqs", "lambda"):
            return publish(self, message, message_id, *args, **kwargs)
        matcher = self._filter_policy_matcher
        attributes = kwargs.get("message_attributes", args[1] if len(args) > 1 else None)
        if matcher is not None and not matcher.matches(attributes, message):
            return None  # filtered out: nothing delivered, nothing to authorise
        action = "sqs:SendMessage" if self.protocol == "sqs" else "lambda:InvokeFunction"
        allowed, _ = enforcer.service_delivery_allowed(
            "sns.amazonaws.com", action, self.endpoint, self.topic.arn
        )
        if allowed:
            return publish(self, message, message_id, *args, **kwargs)
        # Undeliverable: to the subscription's dead-letter queue if SNS may send there.
        redrive = self.attributes.get("RedrivePolicy")
        dlq = json.loads(redrive).get("deadLetterTargetArn") if isinstance(redrive, str) else None
        if (
            dlq
            and enforcer.service_delivery_allowed(
                "sns.amazonaws.com", "sqs:SendMessage", str(dlq), self.topic.arn
            )[0]
        ):
            arn = str(dlq).split(":")
            sqs_backends[arn[4]][arn[3]].send_message(arn[5], message)
        return None

    Subscription.publish = publish_checked  # type: ignore[method-assign]

    send_log_event = LambdaBackend.send_log_event

    def send_log_event_checked(
        self: Any,
        function_arn: str,
        filter_name: str,
        log_group_name: str,
        log_stream_name: str,
        log_events: Any,
    ) -> None:
        enforcer = _active
        if (
            enforcer is not None
            and not enforcer._logs_may_invoke(log_group_name, function_arn)
            and not enforcer.lenient
        ):
            return None  # CloudWatch Logs may not invoke it: nothing is delivered
        send_log_event(self, function_arn, filter_name, log_group_name, log_stream_name, log_events)
        return None

    LambdaBackend.send_log_event = send_log_event_checked  # type: ignore[method-assign]
