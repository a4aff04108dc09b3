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

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sluice_local.emulator.iam import aws_calls, hooks
from sluice_local.emulator.iam.creation import CreationChecks
from sluice_local.emulator.iam.model import Principal, load_model
from sluice_local.emulator.iam.services import ServiceChecks

if TYPE_CHECKING:
    from sluice_local.emulator.runtime import LocalPipeline


class Enforcer(CreationChecks, ServiceChecks):
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

    # -- lifecycle -------------------------------------------------------------------------
    def activate(self) -> None:
        hooks.activate(self)

    def deactivate(self) -> None:
        hooks.deactivate(self)

    @staticmethod
    def exempt(client: Any) -> Any:
        """Mark a client as the runtime's own: its calls stand in for AWS's and are not checked."""
        setattr(client, hooks.RUNTIME_CLIENT, True)
        return client

    def attach(self, pipeline: LocalPipeline) -> None:
        """Read the deployed stack's roles, resource and key policies, then check what AWS
        checks when it creates them (roles their services may assume, log group keys)."""
        load_model(self.model, pipeline)
        self._check_deployment(pipeline)

    @contextmanager
    def acting_as_function(self, function_name: str) -> Iterator[None]:
        """Around a handler: its calls are its execution role's (session: the function name)."""
        role = self.model.function_roles.get(function_name)
        if role is None:
            yield
            return
        token = hooks.ACTING.set(self.principal_for_role(role, function_name))
        try:
            yield
        finally:
            hooks.ACTING.reset(token)

    @contextmanager
    def acting_as(self, principal: Principal) -> Iterator[None]:
        """Calls made on this thread are ``principal``'s (e.g. an operator's role running an
        operator tool in a test)."""
        token = hooks.ACTING.set(principal)
        try:
            yield
        finally:
            hooks.ACTING.reset(token)

    def checked_client(
        self, client: Any, principal: Principal, actions: Mapping[str, str | None]
    ) -> Any:
        """A runtime client used on a role's behalf (a pipe, a stream mapping's poller): each
        method in ``actions`` is first checked as that IAM action on the call's resource
        (``None``: the runtime's own emulation, not a call AWS makes)."""
        return _CheckedClient(self, client, principal, actions)


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
            enforcer.enforce(principal, client, operation, action, resource, action.split(":")[0])
            return method(**params)

        return checked
