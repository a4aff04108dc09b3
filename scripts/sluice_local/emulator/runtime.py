"""Stand the pipeline up in the embedded AWS emulator (moto), from template.yaml itself.

    with LocalPipeline(Path("template.yaml"), overrides={"MaxConcurrency": "3"}) as pipeline:
        pipeline.client("s3").put_object(Bucket=pipeline.outputs["BucketName"], ...)
        pipeline.start_drain()

Deployment goes through moto's CloudFormation (every resource the template declares), then
re-creates each state machine through the Step Functions API with its DefinitionSubstitutions
resolved, because only that path executes (see ../shared/notes/local-aws.md). Functions run
in-process through :mod:`sluice_local.emulator.invoker`.
"""

from __future__ import annotations

import io
import json
import logging
import os
import threading
import time
import uuid
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sluice_local.emulator import fixes as emulator_fixes
from sluice_local.emulator import timescale
from sluice_local.emulator.cloudwatch import LogShipper
from sluice_local.emulator.iam.enforcer import Enforcer
from sluice_local.emulator.invoker import AsyncConfig, Dispatcher, FunctionRuntime
from sluice_local.emulator.template import (
    CODE_BUCKET,
    SUBSTITUTION_OUTPUT_PREFIX,
    TemplateError,
    TranslatedTemplate,
    load_and_translate,
    substitute,
)
from sluice_local.sources.pipes import PipeConfig, PipeRunner
from sluice_local.sources.streams import StreamMappingConfig, StreamMappingRunner
from sluice_local.terminal import readable_reason

# Resource types moto's CloudFormation skips, and what stands in for them locally.
SUBSTITUTES: dict[str, str] = {
    "AWS::S3::BucketPolicy": "not created by moto; enforced by the runtime's IAM checks "
    "(sluice_local.emulator.iam.enforcer reads it from the template as deployed)",
    "AWS::SQS::QueuePolicy": "not created by moto; enforced by the runtime's IAM checks "
    "(sluice_local.emulator.iam.enforcer reads it from the template as deployed)",
    "AWS::CloudWatch::Alarm": "not created: moto's CloudFormation has no alarms "
    "(tests/template checks that each component has one and every alarm has its actions)",
    "AWS::SNS::TopicPolicy": "not created by moto; enforced by the runtime's IAM checks "
    "(sluice_local.emulator.iam.enforcer reads it from the template as deployed)",
    "AWS::SNS::Subscription": "applied through the SNS API after deployment",
    "AWS::Logs::SubscriptionFilter": "applied through the CloudWatch Logs API after deployment; "
    "moto delivers every log event whatever the filter pattern, so subscribed functions "
    "ignore what they do not handle",
    "AWS::Pipes::Pipe": "driven by the local runtime (sluice_local.sources.pipes): moto accepts pipes but "
    "delivers nothing; SQS source to a synchronous (REQUEST_RESPONSE) Step Functions target",
    "AWS::Lambda::EventInvokeConfig": "emulated by the dispatcher: a failed asynchronous "
    "invocation is retried MaximumRetryAttempts times at once, then its event and error go to "
    "the SQS on-failure destination",
}
_ACCOUNT = "123456789012"  # moto's default account
_PAGINATED = {
    "stepfunctions": ("list_executions", "get_execution_history"),
    "cloudformation": ("list_stack_resources",),
}
_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
# The emulator answers only requests sent to AWS's own endpoints (moto intercepts them in
# botocore). A shell that exported AWS_ENDPOINT_URL for `sluice-local up` (or whose profile sets
# an endpoint_url) would send the runtime's and the handlers' calls elsewhere; a profile named
# by AWS_PROFILE that does not exist here would stop every client. Neither applies inside.
_ISOLATED_ENVIRONMENT: dict[str, str | None] = {
    **_FAKE_CREDENTIALS,
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true",
    "AWS_PROFILE": None,
    "AWS_DEFAULT_PROFILE": None,
}


@dataclass(frozen=True)
class ScheduleRule:
    name: str
    expression: str
    period_seconds: float
    targets: tuple[dict[str, Any], ...]


def _skip_unsupported_type_warnings(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith("No Moto CloudFormation support for")


@dataclass(frozen=True)
class DeadLetter:
    body: str
    attributes: dict[str, str]

    @property
    def reason(self) -> str:
        """Why it is here: the drain's reason attribute, EventBridge's error, or SQS redrive."""
        return readable_reason(
            self.attributes.get("sluice-reason")
            or self.attributes.get("ERROR_MESSAGE")  # EventBridge target dead-letter
            or "received MaxReceiveCount times without being deleted (SQS redrive)"
        )

    @property
    def object_key(self) -> str | None:
        try:
            event = json.loads(self.body)
        except (json.JSONDecodeError, RecursionError):  # deeply nested JSON is a dead letter too
            return None
        if not isinstance(event, dict):
            return None
        details = event.get("s3_details") or {}
        key = details.get("key") or (event.get("detail") or {}).get("object", {}).get("key")
        return key if isinstance(key, str) else None


def parse_rate(expression: str) -> float:
    """Seconds between firings of an EventBridge ``rate(...)`` expression."""
    text = expression.strip()
    if not (text.startswith("rate(") and text.endswith(")")):
        raise TemplateError(
            f"schedule {expression!r}: the local runtime drives rate(...) schedules only; "
            "cron(...) schedules are not fired locally (start the target by hand)"
        )
    value, _, unit = text[5:-1].strip().partition(" ")
    seconds = {
        "minute": 60,
        "minutes": 60,
        "hour": 3600,
        "hours": 3600,
        "day": 86400,
        "days": 86400,
    }
    if unit not in seconds or not value.isdigit() or int(value) < 1:
        raise TemplateError(f"schedule {expression!r} is not a valid rate expression")
    return int(value) * seconds[unit]


class LocalPipeline:
    """The template deployed into moto, its handlers live, its schedules driven."""

    def __init__(
        self,
        template_path: Path,
        overrides: dict[str, str] | None = None,
        *,
        stack_name: str = "sluice-local",
        time_scale: float = 1.0,
        region: str = "us-east-1",
        log_dir: Path | None = None,
        secrets: dict[str, str] | None = None,
        lenient: bool = False,
        lambda_metrics: bool = False,
    ) -> None:
        self.template_path = template_path
        # Publish Lambda's AWS/Lambda metrics (Invocations, Errors, Duration, Throttles,
        # ConcurrentExecutions) as AWS does, for tools that read CloudWatch (`sluice monitor`
        # against `sluice-local up`). Off by default: ~6 ms of CPU an invocation, which the
        # jobs and benchmarks that read the dispatcher's own figures need not pay.
        self.lambda_metrics = lambda_metrics
        # Lenient: AWS's limits are measured and reported, not enforced (to explore).
        self.lenient = lenient
        self.overrides = dict(overrides or {})
        # Parameter name -> secret value: created in Secrets Manager before deployment, and the
        # parameter set to its ARN (the template takes secrets by ARN only).
        self.secrets = dict(secrets or {})
        self.stack_name = stack_name
        self.time_scale = time_scale
        self.region = region
        self.dispatcher = Dispatcher(log_dir, lenient=lenient)
        # IAM and KMS as AWS decides them (sluice_local.emulator.iam.enforcer); lenient: recorded, not refused.
        self.iam = Enforcer(region=region, account=_ACCOUNT, lenient=lenient)
        self.outputs: dict[str, str] = {}
        self.resources: dict[str, str] = {}
        self.translated: TranslatedTemplate | None = None
        self.state_machine_arns: dict[str, str] = {}
        self.schedules: list[ScheduleRule] = []
        self.pipes: dict[str, PipeRunner] = {}
        self.stream_mappings: dict[str, StreamMappingRunner] = {}
        self._runners_stop = threading.Event()
        self._mock: Any = None
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()
        self._session: Any = None
        self._scheduler: threading.Thread | None = None
        self._stop = threading.Event()
        self._env_backup: dict[str, str | None] = {}

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> LocalPipeline:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> LocalPipeline:
        import warnings

        from moto import mock_aws

        # moto warns for each skipped type; SUBSTITUTES above says what stands in for each.
        warnings.filterwarnings("ignore", message=".*not supported by moto's CloudFormation.*")
        logging.getLogger("moto").addFilter(_skip_unsupported_type_warnings)
        # A handler that adds no metric on some path (a postponed object, a control message)
        # still flushes: Powertools warns, which is noise in a run's output.
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        # moto logs every IsPresent miss and every caught task error at ERROR level; the
        # outcome is in the execution history, which the runtime reads.
        logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)

        for key, value in {**_ISOLATED_ENVIRONMENT, "AWS_DEFAULT_REGION": self.region}.items():
            self._env_backup[key] = os.environ.get(key)
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        timescale.set_time_scale(self.time_scale)
        emulator_fixes.install()
        # Process-wide: each start sets it, so a lenient run never leaves it off for the next.
        emulator_fixes.set_strict(not self.lenient)
        emulator_fixes.set_move_tasks(True)
        self.iam.activate()
        self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        self._mock.start()
        try:
            for parameter, value in self.secrets.items():
                self.overrides[parameter] = self.client("secretsmanager").create_secret(
                    Name=f"{self.stack_name}-{parameter}", SecretString=value
                )["ARN"]
            self.translated = load_and_translate(self.template_path, self.overrides)
            self._check_supported(self.translated)
            self._deploy(self.translated)
        except Exception:
            self.stop()
            raise
        return self

    def quiesce(self, timeout: float, hurry: threading.Event | None = None) -> int:
        """Start no more work and let work in progress end, before :meth:`stop` (`sluice-local
        up` on Ctrl-C): schedules, pipes and stream mappings stop, running executions are
        stopped (as the emulator stops them; StopExecution refuses Express executions), and
        their threads and the invocations in flight get up to ``timeout`` seconds (until
        ``hurry`` is set) to end, so that none acts on an emulator that is gone. Returns how
        many threads were still running then (abandoned)."""
        from moto.stepfunctions.parser.utils import TMP_THREADS  # every execution's threads

        self.stop_schedules()
        self._runners_stop.set()
        for runner in [*self.pipes.values(), *self.stream_mappings.values()]:
            runner.join(timeout=10)
        self._stop_executions()
        deadline = time.monotonic() + timeout
        while True:
            running = sum(self.dispatcher.stats.in_flight.values())
            running += sum(1 for thread in list(TMP_THREADS) if thread.is_alive())
            if not running or time.monotonic() >= deadline or (hurry and hurry.is_set()):
                return running
            time.sleep(0.05)

    def _stop_executions(self) -> None:
        from datetime import UTC, datetime

        from moto.stepfunctions.parser.api import ExecutionStatus
        from moto.stepfunctions.responses import get_backend

        if self._mock is None:
            return
        backend = get_backend(_ACCOUNT, self.region)  # the executing (parser) backend
        for machine in list(backend.state_machines):
            for execution in list(getattr(machine, "executions", [])):
                if getattr(execution, "exec_status", None) == ExecutionStatus.RUNNING:
                    execution.stop(stop_date=datetime.now(UTC), error=None, cause=None)

    def stop(self) -> None:
        self._stop.set()
        self._runners_stop.set()
        for runner in self.pipes.values():
            runner.join(timeout=10)
        for mapping in self.stream_mappings.values():
            mapping.join(timeout=10)
        if self._scheduler is not None:
            self._scheduler.join(timeout=5)
            self._scheduler = None
        self.dispatcher.uninstall()
        emulator_fixes.set_move_tasks(False)
        self.iam.deactivate()
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        for key, value in self._env_backup.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def client(self, service: str) -> Any:
        """The runtime's own client of a service: one per service, from a session of its own.

        boto3's default session is shared with the handlers, which create clients from many
        threads, and botocore sessions are not thread-safe (boto/boto3#2750); a paginator
        model loaded during such a race came back empty once (OperationNotPageableError on
        list_executions at the end of a demo)."""
        import boto3

        with self._clients_lock:
            if service not in self._clients:
                if self._session is None:
                    self._session = boto3.session.Session(region_name=self.region)
                make_client: Any = self._session.client  # any service name
                client = make_client(service)
                for operation in _PAGINATED.get(service, ()):
                    client.can_paginate(operation)  # load the paginator model now, here
                self._clients[service] = Enforcer.exempt(client)  # stands in for AWS: unchecked
            return self._clients[service]

    # -- deployment ------------------------------------------------------------------------
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

        self.iam.attach(self)
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

        stack = cloudformation_backends[_ACCOUNT][self.region].get_stack(self.stack_name)
        output_map = stack.output_map
        declared = output_map._output_json_map or {}
        for key in [k for k in declared if k.startswith(SUBSTITUTION_OUTPUT_PREFIX)]:
            del declared[key]
            output_map._parsed_outputs.pop(key, None)

    def _resource_map(self) -> Any:
        from moto.cloudformation import cloudformation_backends

        return (
            cloudformation_backends[_ACCOUNT][self.region].get_stack(self.stack_name).resource_map
        )

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

    def _read_schedules(self, translated: TranslatedTemplate) -> None:
        events = self.client("events")
        for logical_id in translated.schedule_rules:
            if logical_id not in self.resources:
                continue  # its Condition is false
            name = self.resources[logical_id]
            rule = events.describe_rule(Name=name)
            if rule.get("State") == "DISABLED":
                continue
            targets = events.list_targets_by_rule(Rule=name)["Targets"]
            self.schedules.append(
                ScheduleRule(
                    name=logical_id,
                    expression=rule["ScheduleExpression"],
                    period_seconds=parse_rate(rule["ScheduleExpression"]),
                    targets=tuple(targets),
                )
            )

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
        """Kinesis event source mappings run by sluice_local.sources.streams, not by moto (which would
        invoke the function once per record, without batches, retries or destinations)."""
        from moto.kinesis.models import kinesis_backends

        streams = kinesis_backends[_ACCOUNT][self.region].streams
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

    def wait_for_streams(self, timeout: float) -> None:
        """Until every stream mapping has read its shards to the end and processed it all."""
        deadline = time.monotonic() + timeout
        time.sleep(0.1)  # let the readers see what was just put
        while not all(m.caught_up for m in self.stream_mappings.values()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"stream mappings not caught up after {timeout}s")
            time.sleep(0.05)

    # -- schedules -------------------------------------------------------------------------
    def fire(self, schedule: ScheduleRule) -> list[str]:
        """Deliver one scheduled event to each target, as EventBridge would."""
        started = []
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "region": self.region,
            "resources": [f"arn:aws:events:{self.region}:123456789012:rule/{schedule.name}"],
            "detail": {},
        }
        rule_arn = f"arn:aws:events:{self.region}:{_ACCOUNT}:rule/{self.resources[schedule.name]}"
        for target in schedule.targets:
            arn = target["Arn"]
            payload = target.get("Input") or json.dumps(event)
            if not self.iam.schedule_target_allowed(rule_arn, target):
                continue  # AWS: a FailedInvocation; nothing starts
            if ":states:" in arn:
                name = f"{schedule.name}-{uuid.uuid4().hex[:12]}"
                self.client("stepfunctions").start_execution(
                    stateMachineArn=arn, name=name, input=payload
                )
                started.append(name)
            elif ":lambda:" in arn:
                self.client("lambda").invoke(
                    FunctionName=arn, InvocationType="Event", Payload=payload.encode()
                )
                started.append(arn)
            else:
                raise TemplateError(f"schedule {schedule.name}: target {arn} is not supported")
        return started

    def start_schedules(self, fire_now: bool = True) -> None:
        """Fire every schedule of the template on its period (time-scaled)."""
        if self._scheduler is not None:
            return
        self._stop.clear()

        def run() -> None:
            next_due = {
                s.name: time.monotonic() + (0 if fire_now else s.period_seconds * self.time_scale)
                for s in self.schedules
            }
            while not self._stop.is_set():
                now = time.monotonic()
                for schedule in self.schedules:
                    if now >= next_due[schedule.name]:
                        self.fire(schedule)
                        next_due[schedule.name] = now + schedule.period_seconds * self.time_scale
                self._stop.wait(0.05)

        self._scheduler = threading.Thread(target=run, name="sluice-scheduler", daemon=True)
        self._scheduler.start()

    def stop_schedules(self) -> None:
        self._stop.set()
        if self._scheduler is not None:
            self._scheduler.join(timeout=5)
            self._scheduler = None

    # -- observation -----------------------------------------------------------------------
    def queue_counts(self, output_key: str) -> tuple[int, int]:
        """(visible, in flight) messages of the queue whose URL is the given stack output."""
        attrs = self.client("sqs").get_queue_attributes(
            QueueUrl=self.outputs[output_key],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]), int(
            attrs["ApproximateNumberOfMessagesNotVisible"]
        )

    def dead_letters(self, output_key: str = "ObjectDeadLetterQueueUrl") -> list[DeadLetter]:
        """Every message in a dead-letter queue, left in place (made visible again)."""
        sqs = self.client("sqs")
        url = self.outputs[output_key]
        seen: dict[str, DeadLetter] = {}
        handles: list[str] = []
        while True:
            # A long poll: a short one may answer empty while a few messages wait, in SQS as
            # here (emulator_fixes, strict); this one waits 1 s (time-scaled) at the end.
            batch = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=60,
                WaitTimeSeconds=1,
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not batch:
                break
            for message in batch:
                handles.append(message["ReceiptHandle"])
                attributes = {
                    k: v.get("StringValue", "")
                    for k, v in message.get("MessageAttributes", {}).items()
                }
                seen[message["MessageId"]] = DeadLetter(message["Body"], attributes)
        for handle in handles:
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
        return list(seen.values())

    def executions(self, logical_id: str) -> list[dict[str, Any]]:
        sfn = self.client("stepfunctions")
        result: list[dict[str, Any]] = []
        for page in sfn.get_paginator("list_executions").paginate(
            stateMachineArn=self.state_machine_arns[logical_id]
        ):
            result.extend(page["executions"])
        return result

    def running_executions(self, logical_id: str) -> int:
        return sum(1 for e in self.executions(logical_id) if e["status"] == "RUNNING")

    def state_transitions(self, logical_id: str) -> int:
        """States entered across all executions: what Standard workflows are billed on."""
        return self.history_counts(logical_id)["StateEntered"]

    def history_counts(self, logical_id: str) -> Counter[str]:
        """Counts from every execution's history: ``StateEntered`` (what Standard bills),
        ``state:<name>`` per state, and ``task:<resourceType>:<resource>`` per service call."""
        sfn = self.client("stepfunctions")
        counts: Counter[str] = Counter()
        for execution in self.executions(logical_id):
            for page in sfn.get_paginator("get_execution_history").paginate(
                executionArn=execution["executionArn"]
            ):
                for event in page["events"]:
                    if event["type"].endswith("StateEntered"):
                        counts["StateEntered"] += 1
                        counts[f"state:{event['stateEnteredEventDetails']['name']}"] += 1
                    elif event["type"] == "TaskScheduled":
                        details = event.get("taskScheduledEventDetails", {})
                        counts[f"task:{details.get('resourceType')}:{details.get('resource')}"] += 1
        return counts

    def wait_for_executions(self, logical_id: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.running_executions(logical_id):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{logical_id} executions still running after {timeout}s")
            time.sleep(0.1)

    def wait_for_pipes(self, timeout: float) -> None:
        """Until every pipe's source queue is empty and no batch is being delivered."""
        deadline = time.monotonic() + timeout
        sqs = self.client("sqs")
        while True:
            pending = 0
            for runner in self.pipes.values():
                attrs = sqs.get_queue_attributes(
                    QueueUrl=runner.config.source_queue_url,
                    AttributeNames=[
                        "ApproximateNumberOfMessages",
                        "ApproximateNumberOfMessagesNotVisible",
                    ],
                )["Attributes"]
                pending += int(attrs["ApproximateNumberOfMessages"])
                pending += int(attrs["ApproximateNumberOfMessagesNotVisible"])
                pending += int(runner.busy)
            if not pending:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"pipes still have {pending} messages after {timeout}s")
            time.sleep(0.05)
