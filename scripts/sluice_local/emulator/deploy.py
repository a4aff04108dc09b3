"""Deployment of the translated template into moto: the stack through moto's CloudFormation,
then what CloudFormation there does not finish (state machines with their DefinitionSubstitutions,
the functions registered with the dispatcher, the resources moto skips, and the event sources it
does not drive). A mixin of :class:`sluice_local.emulator.runtime.LocalPipeline`."""

from __future__ import annotations

import io
import json
import threading
import zipfile
from typing import TYPE_CHECKING, Any, cast

from sluice_local.emulator import ACCOUNT
from sluice_local.emulator.cloudwatch import LogShipper
from sluice_local.emulator.invocations import AsyncConfig, FunctionRuntime
from sluice_local.emulator.template import (
    CODE_BUCKET,
    SUBSTITUTION_OUTPUT_PREFIX,
    TemplateError,
    TranslatedTemplate,
    substitute,
)
from sluice_local.sources.pipes import PipeConfig, PipeRunner
from sluice_local.sources.streams import StreamMappingConfig, StreamMappingRunner

if TYPE_CHECKING:
    from sluice_local.emulator.iam.enforcer import Enforcer
    from sluice_local.emulator.invoker import Dispatcher
    from sluice_local.emulator.runtime import LocalPipeline

# Resource types moto's CloudFormation skips, and what stands in for them locally.
SUBSTITUTES: dict[str, str] = {
    "AWS::S3::BucketPolicy": "not created by moto; enforced by the runtime's IAM checks "
    "(sluice_local.emulator.iam.model reads it from the template as deployed)",
    "AWS::SQS::QueuePolicy": "not created by moto; enforced by the runtime's IAM checks "
    "(sluice_local.emulator.iam.model reads it from the template as deployed)",
    "AWS::CloudWatch::Alarm": "not created: moto's CloudFormation has no alarms "
    "(tests/template checks that each component has one and every alarm has its actions)",
    "AWS::SNS::TopicPolicy": "not created by moto; enforced by the runtime's IAM checks "
    "(sluice_local.emulator.iam.model reads it from the template as deployed)",
    "AWS::SNS::Subscription": "applied through the SNS API after deployment",
    "AWS::Logs::SubscriptionFilter": "applied through the CloudWatch Logs API after deployment; "
    "moto delivers every log event whatever the filter pattern, so subscribed functions "
    "ignore what they do not handle",
    "AWS::Pipes::Pipe": "driven by the local runtime (sluice_local.sources.pipes): moto accepts "
    "pipes but delivers nothing; SQS source to a synchronous (REQUEST_RESPONSE) Step Functions "
    "target",
    "AWS::Lambda::EventInvokeConfig": "emulated by the dispatcher: a failed asynchronous "
    "invocation is retried MaximumRetryAttempts times at once, then its event and error go to "
    "the SQS on-failure destination",
}


class Deployment:
    """The deployment steps of LocalPipeline (which holds the state they fill in)."""

    stack_name: str
    region: str
    lambda_metrics: bool
    dispatcher: Dispatcher
    iam: Enforcer
    outputs: dict[str, str]
    resources: dict[str, str]
    translated: TranslatedTemplate | None
    state_machine_arns: dict[str, str]
    pipes: dict[str, PipeRunner]
    stream_mappings: dict[str, StreamMappingRunner]
    _runners_stop: threading.Event

    if TYPE_CHECKING:

        def client(self, service: str) -> Any: ...

        def _read_schedules(self, translated: TranslatedTemplate) -> None: ...

    @staticmethod
    def _check_supported(translated: TranslatedTemplate) -> None:
        from moto.cloudformation.parsing import resource_class_from_type

        unsupported = sorted(
            f"{logical_id} ({resource['Type']})"
            for logical_id, resource in translated.cloudformation["Resources"].items()
            if resource_class_from_type(resource["Type"]) is None
            and resource["Type"] not in SUBSTITUTES
        )
        if unsupported:
            raise TemplateError(
                "the local runtime cannot emulate these resources: " + ", ".join(unsupported)
            )

    def _deploy(self, translated: TranslatedTemplate) -> None:
        s3 = self.client("s3")
        s3.create_bucket(Bucket=CODE_BUCKET)
        placeholder = io.BytesIO()
        with zipfile.ZipFile(placeholder, "w") as archive:
            archive.writestr("README.txt", "code runs in-process from the template's CodeUri\n")
        for logical_id in [*translated.functions, *translated.layers]:
            s3.put_object(Bucket=CODE_BUCKET, Key=f"{logical_id}.zip", Body=placeholder.getvalue())

        cfn = self.client("cloudformation")
        cfn.create_stack(
            StackName=self.stack_name,
            TemplateBody=json.dumps(translated.cloudformation),
            Parameters=[
                {"ParameterKey": k, "ParameterValue": v} for k, v in translated.parameters.items()
            ],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
        stack = cfn.describe_stacks(StackName=self.stack_name)["Stacks"][0]
        if stack["StackStatus"] != "CREATE_COMPLETE":
            raise TemplateError(f"stack {self.stack_name} ended {stack['StackStatus']}")
        self.outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        paginator = cfn.get_paginator("list_stack_resources")
        for page in paginator.paginate(StackName=self.stack_name):
            for resource in page["StackResourceSummaries"]:
                self.resources[resource["LogicalResourceId"]] = resource["PhysicalResourceId"]

        self.iam.attach(cast("LocalPipeline", self))  # a mixin of it
        self._register_functions(translated)
        self._create_state_machines(translated)
        self._apply_substitutes(translated)
        self._read_schedules(translated)
        self._start_pipes(translated)
        self._start_stream_mappings(translated)

    def _register_functions(self, translated: TranslatedTemplate) -> None:
        self.dispatcher.install()
        self.dispatcher.log_shipper = self.iam.guard_log_shipper(
            LogShipper(self.client("logs"), self.client("cloudwatch"))
        )
        if self.lambda_metrics:
            # Lambda's own metrics; not the function's doing, so its role is not asked.
            self.dispatcher.lambda_metrics = lambda data: self.client("cloudwatch").put_metric_data(
                Namespace="AWS/Lambda", MetricData=data
            )
        self.dispatcher.send_to_queue = self.iam.guard_on_failure(
            lambda url, body: self.client("sqs").send_message(QueueUrl=url, MessageBody=body)
        )
        lam = self.client("lambda")
        for logical_id, source in translated.functions.items():
            if logical_id not in self.resources:
                continue  # its Condition is false
            name = self.resources[logical_id]
            logging_config = self._resolved(logical_id, "LoggingConfig") or {}
            config = lam.get_function_configuration(FunctionName=name)
            reserved = lam.get_function_concurrency(FunctionName=name)
            self.dispatcher.register(
                FunctionRuntime(
                    function_name=name,
                    logical_id=logical_id,
                    code_dir=source.code_dir,
                    handler=config["Handler"],
                    layer_dirs=tuple(translated.layers[i] for i in source.layer_logical_ids),
                    # Lambda environment values are strings, whatever CloudFormation resolved.
                    environment={
                        k: str(v)
                        for k, v in config.get("Environment", {}).get("Variables", {}).items()
                    },
                    timeout_seconds=float(config["Timeout"]),
                    memory_mb=int(config["MemorySize"]),
                    reserved_concurrency=reserved.get("ReservedConcurrentExecutions"),
                    log_group=logging_config.get("LogGroup") or f"/aws/lambda/{name}",
                )
            )

    def _create_state_machines(self, translated: TranslatedTemplate) -> None:
        sfn, iam = self.client("stepfunctions"), self.client("iam")
        for logical_id, machine in translated.state_machines.items():
            if logical_id not in self.resources:
                continue  # its Condition is false
            props = translated.cloudformation["Resources"][logical_id]["Properties"]
            values = {
                key: self.outputs.pop(f"{SUBSTITUTION_OUTPUT_PREFIX}{logical_id}{key}")
                for key in machine.substitution_keys
            }
            arn = self.resources[logical_id]
            role_logical = (
                props["RoleArn"]["Fn::GetAtt"][0]
                if "Fn::GetAtt" in str(props.get("RoleArn"))
                else None
            )
            role_arn = (
                iam.get_role(RoleName=self.resources[role_logical])["Role"]["Arn"]
                if role_logical
                else str(props["RoleArn"])
            )
            # Execution logs go to the template's log group (moto writes them), where
            # subscription filters pick them up as in AWS.
            logging_config = self._resolved(logical_id, "LoggingConfiguration") or {}
            self.iam.check_state_machine(logical_id, role_arn, logging_config)
            created = sfn.create_state_machine(
                name=arn.rsplit(":", 1)[-1],
                definition=substitute(machine.definition, values),
                roleArn=role_arn,
                type=props.get("StateMachineType", "STANDARD"),
                loggingConfiguration={
                    "level": logging_config.get("Level", "OFF"),
                    "includeExecutionData": bool(logging_config.get("IncludeExecutionData")),
                    "destinations": [
                        {
                            "cloudWatchLogsLogGroup": {
                                "logGroupArn": d["CloudWatchLogsLogGroup"]["LogGroupArn"]
                            }
                        }
                        for d in logging_config.get("Destinations", [])
                    ],
                },
            )
            self.state_machine_arns[logical_id] = created["stateMachineArn"]
        self._hide_substitution_outputs()

    def _hide_substitution_outputs(self) -> None:
        """The outputs the translation added to resolve DefinitionSubstitutions are the runtime's
        own: DescribeStacks (an operator's `aws cloudformation describe-stacks`, `sluice`
        against `sluice-local up`) lists the template's outputs only, as on AWS."""
        from moto.cloudformation import cloudformation_backends

        stack = cloudformation_backends[ACCOUNT][self.region].get_stack(self.stack_name)
        output_map = stack.output_map
        declared = output_map._output_json_map or {}
        for key in [k for k in declared if k.startswith(SUBSTITUTION_OUTPUT_PREFIX)]:
            del declared[key]
            output_map._parsed_outputs.pop(key, None)

    def _resource_map(self) -> Any:
        from moto.cloudformation import cloudformation_backends

        return cloudformation_backends[ACCOUNT][self.region].get_stack(self.stack_name).resource_map

    def _resolved(self, logical_id: str, prop: str | None = None) -> Any:
        """A resource's properties (or one of them) with Ref, GetAtt, Sub and If resolved as
        the deployed stack resolves them; None when the resource's Condition is false."""
        from moto.cloudformation.parsing import clean_json

        assert self.translated is not None
        resource = self.translated.cloudformation["Resources"][logical_id]
        resource_map = self._resource_map()
        condition = resource.get("Condition")
        if condition and not resource_map.lazy_condition_map[condition]:
            return None
        props = resource.get("Properties", {})
        return clean_json(props.get(prop) if prop else props, resource_map)

    def _apply_substitutes(self, translated: TranslatedTemplate) -> None:
        """What moto's CloudFormation skips but the pipeline needs (see SUBSTITUTES)."""
        for logical_id, resource in translated.cloudformation["Resources"].items():
            kind = resource["Type"]
            if kind not in (
                "AWS::SNS::Subscription",
                "AWS::Logs::SubscriptionFilter",
                "AWS::Lambda::EventInvokeConfig",
            ):
                continue
            props = self._resolved(logical_id)
            if props is None:
                continue
            if kind == "AWS::SNS::Subscription":
                attributes = {
                    name: value if isinstance(value, str) else json.dumps(value)
                    for name in ("RawMessageDelivery", "FilterPolicy", "RedrivePolicy")
                    if (value := props.get(name)) is not None
                }
                if isinstance(props.get("RawMessageDelivery"), bool):
                    attributes["RawMessageDelivery"] = str(props["RawMessageDelivery"]).lower()
                self.client("sns").subscribe(
                    TopicArn=props["TopicArn"],
                    Protocol=props["Protocol"],
                    Endpoint=props["Endpoint"],
                    Attributes=attributes,
                )
            elif kind == "AWS::Logs::SubscriptionFilter":
                self.iam.check_subscription_filter(
                    logical_id, props["LogGroupName"], props["DestinationArn"]
                )
                self.client("logs").put_subscription_filter(
                    logGroupName=props["LogGroupName"],
                    filterName=logical_id,
                    filterPattern=props.get("FilterPattern", ""),
                    destinationArn=props["DestinationArn"],
                )
            else:
                on_failure = props.get("DestinationConfig", {}).get("OnFailure", {})
                queue_arn = on_failure.get("Destination", "")
                if queue_arn:
                    self.iam.check_destination(logical_id, props["FunctionName"], queue_arn)
                self.dispatcher.set_async_config(
                    props["FunctionName"],
                    AsyncConfig(
                        maximum_retry_attempts=int(props.get("MaximumRetryAttempts", 2)),
                        on_failure_queue_url=self._queue_url(queue_arn) if queue_arn else None,
                    ),
                )

    def _queue_url(self, queue_arn: str) -> str:
        name = queue_arn.rsplit(":", 1)[-1]
        return str(self.client("sqs").get_queue_url(QueueName=name)["QueueUrl"])

    def _start_pipes(self, translated: TranslatedTemplate) -> None:
        """Pipes run from deployment on, as in AWS (sluice_local.sources.pipes)."""
        self._runners_stop.clear()
        sqs = self.client("sqs")
        for logical_id in translated.pipes:
            props = self._resolved(logical_id)
            if props is None:
                continue  # its Condition is false
            pipe_role = self.iam.check_pipe(logical_id, props)
            queue_url = self._queue_url(str(props["Source"]))
            visibility = sqs.get_queue_attributes(
                QueueUrl=queue_url, AttributeNames=["VisibilityTimeout"]
            )["Attributes"]["VisibilityTimeout"]
            runner = PipeRunner(
                PipeConfig.from_properties(
                    logical_id,
                    props,
                    queue_url=queue_url,
                    visibility_s=float(visibility),
                    region=self.region,
                ),
                # The pipe's role: what Pipes does (not the runner's emulation) is checked.
                self.iam.checked_client(sqs, pipe_role, self.iam.PIPE_SQS),
                self.iam.checked_client(self.client("stepfunctions"), pipe_role, self.iam.PIPE_SFN),
                self._runners_stop,
            )
            self.pipes[logical_id] = runner
            runner.start()

    def _start_stream_mappings(self, translated: TranslatedTemplate) -> None:
        """Kinesis event source mappings run by sluice_local.sources.streams, not by moto (which
        would invoke the function once per record, without batches, retries or destinations)."""
        from moto.kinesis.models import kinesis_backends

        streams = kinesis_backends[ACCOUNT][self.region].streams
        for logical_id, resource in translated.cloudformation["Resources"].items():
            if resource["Type"] != "AWS::Lambda::EventSourceMapping":
                continue
            props = self._resolved(logical_id)
            if props is None or ":kinesis:" not in str(props.get("EventSourceArn")):
                continue
            stream = streams[str(props["EventSourceArn"]).rsplit("/", 1)[-1]]
            stream.lambda_event_source_mappings.clear()
            destination = props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
            function_arn = self.client("lambda").get_function(
                FunctionName=str(props["FunctionName"])
            )["Configuration"]["FunctionArn"]
            poller = self.iam.check_stream_mapping(
                logical_id, str(props["FunctionName"]), str(props["EventSourceArn"]), destination
            )
            runner = StreamMappingRunner(
                StreamMappingConfig.from_properties(
                    logical_id,
                    props,
                    function_arn=function_arn,
                    on_failure_queue_url=self._queue_url(destination) if destination else None,
                    region=self.region,
                ),
                # Lambda's poller reads and dead-letters with the function's role.
                self.iam.checked_client(self.client("kinesis"), poller, self.iam.POLLER_KINESIS),
                self.client("lambda"),
                self.iam.checked_client(self.client("sqs"), poller, self.iam.POLLER_SQS),
                self._runners_stop,
            )
            self.stream_mappings[logical_id] = runner
            runner.start()
