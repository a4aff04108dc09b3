"""The enforcer's hooks into botocore and moto, installed once and inert while no pipeline is
active: who acts on a thread (a Step Functions Task's role, a function's role in its sandbox), the
check before each client call, and the deliveries moto makes itself (EventBridge, SNS, CloudWatch
Logs subscriptions) checked against their targets' policies."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from sluice_local.emulator.iam import aws_calls

if TYPE_CHECKING:
    from sluice_local.emulator.iam.enforcer import Enforcer
    from sluice_local.emulator.iam.model import Principal

# The attribute that marks a client as the runtime's own (Enforcer.exempt): not checked.
RUNTIME_CLIENT = "_sluice_runtime_client"
ACTING: ContextVar[Principal | None] = ContextVar("sluice_acting_principal", default=None)
_active: Enforcer | None = None  # the running pipeline's enforcer, for moto's own deliveries
_install_lock = threading.Lock()
_installed = False


def activate(enforcer: Enforcer) -> None:
    global _active
    install()
    _active = enforcer


def deactivate(enforcer: Enforcer) -> None:
    global _active
    if _active is enforcer:
        _active = None


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
    principal = ACTING.get()
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
        if principal is None or getattr(self, RUNTIME_CLIENT, False):
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
            token = ACTING.set(principal)
            try:
                return original(self, env)
            finally:
                ACTING.reset(token)

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
        self: Any, function_arn: str, filter_name: str, log_group_name: str, *rest: Any
    ) -> None:
        enforcer = _active
        if (
            enforcer is not None
            and not enforcer._logs_may_invoke(log_group_name, function_arn)
            and not enforcer.lenient
        ):
            return None  # CloudWatch Logs may not invoke it: nothing is delivered
        send_log_event(self, function_arn, filter_name, log_group_name, *rest)
        return None

    LambdaBackend.send_log_event = send_log_event_checked  # type: ignore[method-assign,assignment]
