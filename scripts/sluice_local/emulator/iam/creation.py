"""What AWS checks when it creates the template's resources: roles their services may assume, a
function's VPC permissions, log group keys, state machines' log delivery, pipes, stream mappings,
on-failure destinations and subscription filters. A refusal fails the deployment with AWS's
message (lenient: logged)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sluice_local.emulator.iam import aws_calls
from sluice_local.emulator.iam.decisions import LOG, Decisions
from sluice_local.emulator.iam.model import CreateRefused, Principal

if TYPE_CHECKING:
    from sluice_local.emulator.runtime import LocalPipeline


class CreationChecks(Decisions):
    """The creation-time checks of the Enforcer."""

    def _create_refused(self, what: str, message: str) -> None:
        if self.lenient:
            LOG.warning("AWS would refuse to create %s: %s", what, message)
            return
        raise CreateRefused(f"{what}: {message}")

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
