"""Step Functions as AWS runs it, where moto departs: execution logs at the state machine's
level, ASL parsed once per definition, one SDK client per integration, the SDK's parameter and
response casing, branch error names, and execution names.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from typing import Any


def install_execution_logging() -> None:
    """Step Functions writes execution events to the state machine's log group at its
    LoggingConfiguration level (the only record Express executions leave). moto has that
    logging session but starts every execution without it; this gives each execution the
    session its state machine's configuration asks for, so subscription filters on the log
    group (execution alerts, Splunk) see what they would see in AWS."""
    from moto.stepfunctions.parser.asl.eval.event.logging import (
        CloudWatchLoggingConfiguration,
        CloudWatchLoggingSession,
    )
    from moto.stepfunctions.parser.backend.execution import Execution

    original = Execution.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        machine = self.state_machine
        config = getattr(machine, "loggingConfiguration", None)
        if self._cloud_watch_logging_session is None and config:
            logging_config = CloudWatchLoggingConfiguration.from_logging_configuration(
                state_machine_arn=machine.arn, logging_configuration=config
            )
            if logging_config is not None:
                self._cloud_watch_logging_session = CloudWatchLoggingSession(
                    execution_arn=self.exec_arn, configuration=logging_config
                )

    Execution.__init__ = __init__  # type: ignore[method-assign]

    # moto's publisher fails on its own timestamps (a string where it expects a datetime) and
    # hands the logs backend objects it cannot read; this writes the event as AWS does: JSON
    # with event_timestamp in epoch milliseconds (as a string).
    lock = threading.Lock()

    def publish_history_log(self: Any, history_log: Any) -> None:
        stamp = history_log.get("event_timestamp")
        if isinstance(stamp, str):
            try:
                stamp = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            except ValueError:
                stamp = None
        millis = (
            int(stamp.timestamp() * 1000)
            if isinstance(stamp, datetime)
            else int(time.time() * 1000)
        )
        message = json.dumps({**history_log, "event_timestamp": str(millis)}, default=str)
        config = self.configuration
        backend = self._logs_client
        with lock:
            group = backend.groups.get(config.log_group_name)
            if group is None:
                return  # AWS drops events for a log group that no longer exists
            if config.log_stream_name not in group.streams:
                backend.create_log_stream(config.log_group_name, config.log_stream_name)
        backend.put_log_events(
            config.log_group_name,
            config.log_stream_name,
            [{"timestamp": millis, "message": message}],
        )

    CloudWatchLoggingSession.publish_history_log = publish_history_log  # type: ignore[method-assign]


def install_parse_once() -> None:
    """Per-request work moto repeats that AWS does not have, found by sampling a benchmark run:
    every execution re-parsed its ASL with ANTLR (a schedule tick costs ~0.3 s of CPU), and
    every S3 request reloaded ``moto.s3.urls``. Parse each definition once (the parsed program
    is evaluated against a per-execution Environment, as a Map's iterations already share
    theirs) and load the S3 URL module once (its environment does not change during a run)."""
    import functools

    import moto.s3.urls
    from moto.s3.models import S3Backend
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    parse = functools.lru_cache(maxsize=64)(AmazonStateLanguageParser.parse)
    AmazonStateLanguageParser.parse = staticmethod(parse)  # type: ignore[method-assign]
    S3Backend._url_module = property(lambda self: moto.s3.urls)  # type: ignore[method-assign,assignment]


def install_sfn_client_reuse() -> None:
    """moto's Step Functions interpreter built a new boto3 client for every Task state (tens of
    ms of CPU each, under the GIL every worker shares), which showed up as idle downstream time
    in benchmarks/bound.py. AWS has no such cost; clients are thread-safe, so reuse one per
    region and service."""
    import importlib
    import threading

    from moto.stepfunctions.parser.asl.utils import boto_client

    create = boto_client.boto_client_for
    cache: dict[tuple[str, str, bool], Any] = {}
    lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        # moto's own factory ignores state_credentials too (fixed test keys).
        key = (region, service, bool(boto_client.botocore_stubber.enabled))
        with lock:
            if key not in cache:
                cache[key] = create(region, service)
            return cache[key]

    prefix = "moto.stepfunctions.parser.asl.component.state.exec."
    for module in (
        "state_task.lambda_eval_utils",
        "state_task.service.state_task_service_aws_sdk",
        "state_task.service.state_task_service_sqs",
        "state_task.service.state_task_service_sfn",
        "state_task.service.state_task_service_dynamodb",
        "state_task.service.state_task_service_sns",
        "state_task.service.state_task_service_events",
    ):
        importlib.import_module(prefix + module).boto_client_for = boto_client_for  # type: ignore[attr-defined]


def install_sdk_casing() -> None:
    """Step Functions AWS SDK integrations take and return PascalCase names whatever the API's
    own casing ("StateMachineArn" in, "Executions"/"ExecutionArn" out for sfn). moto kept
    LocalStack's converters but left the two hooks that call them empty; this restores them."""
    import botocore.session
    from botocore import xform_name
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service,
    )

    base = state_task_service.StateTaskService
    session = botocore.session.get_session()
    models: dict[str, Any] = {}

    def operation(task: Any, service_name: str | None, action_name: str | None) -> Any:
        service = task._get_boto_service_name(boto_service_name=service_name)
        action = task._get_boto_service_action(service_action_name=action_name)
        if service not in models:
            models[service] = session.get_service_model(service)
        model = models[service]
        for name in model.operation_names:
            if xform_name(name) == action:
                return model.operation_model(name)
        return None

    def _normalise_parameters(
        self: Any,
        parameters: dict[str, Any],
        boto_service_name: Any = None,
        service_action_name: Any = None,
    ) -> None:
        op = operation(self, boto_service_name, service_action_name)
        if op is not None and op.input_shape is not None:
            self._to_boto_request(parameters, op.input_shape)

    def _normalise_response(
        self: Any, response: Any, boto_service_name: Any = None, service_action_name: Any = None
    ) -> None:
        op = operation(self, boto_service_name, service_action_name)
        if op is not None and op.output_shape is not None:
            self._from_boto_response(response, op.output_shape)

    setattr(base, "_normalise_parameters", _normalise_parameters)  # noqa: B010 - patching a method
    setattr(base, "_normalise_response", _normalise_response)  # noqa: B010


def install_branch_error_names() -> None:
    """A Map iteration or Parallel branch that fails with a States.* error fails its state with
    that error, for the state's Retry and Catch to match (States.Timeout, States.TaskFailed...).
    moto wrapped the name as a custom error name, which refuses the "States." prefix: the state
    failed with States.Runtime instead ("Custom Error Names MUST NOT begin with...")."""
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import (
        CustomErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
        StatesErrorName,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
        iteration_worker,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_parallel import branches_decl

    def error_name(error_name: str | None) -> Any:
        if error_name and error_name.startswith("States."):
            try:
                return StatesErrorName.from_name(error_name)
            except ValueError:
                pass
        return CustomErrorName(error_name)

    for module in (iteration_worker, branches_decl):
        setattr(module, "CustomErrorName", error_name)  # noqa: B010 - the module's own name


def install_execution_names() -> None:
    """StartExecution without a name gets a UUID, as on AWS; moto's parser backend named every
    such execution "None", so a drain's second hand-over (StartExecution from the HandOver
    state) failed with ExecutionAlreadyExists and the chain of drains stopped until the lease
    expired."""
    import uuid

    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    start_execution = StepFunctionsParserBackend.start_execution

    def named(
        self: Any, state_machine_arn: str, name: Any = None, *args: Any, **kwargs: Any
    ) -> Any:
        return start_execution(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

    StepFunctionsParserBackend.start_execution = named  # type: ignore[method-assign]
