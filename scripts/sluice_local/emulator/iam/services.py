"""What services do at run time with a role or as a service principal: EventBridge schedules,
Lambda's on-failure destinations and log delivery, and deliveries allowed by a resource policy."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from sluice_local.emulator.iam import aws_calls
from sluice_local.emulator.iam.aws_calls import KEY_USE
from sluice_local.emulator.iam.decisions import Decisions


class ServiceChecks(Decisions):
    """The run-time service checks of the Enforcer."""

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
