"""Fixes to moto where it departs from AWS in ways the template relies on.

Each fix makes moto behave like the real service, or keeps moto's own overhead from distorting
what the benchmarks measure; none restates the pipeline.
"""

from __future__ import annotations

import base64
import contextlib
import json
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

_installed = False

# Strict mode: the local runtime refuses what AWS refuses where moto does not (the _install_*
# fixes below that say "strict"). Each reads these at call time, so set_strict(False) (the
# runtime's lenient mode) turns them all off at once, in a running pipeline too.
STRICT = True
# An Express execution's limit, in wall-clock seconds: not time-scaled, because the execution's
# own clock ($$.Execution.StartTime, the handlers' datetime.now()) is not; the drain budgets its
# rounds against that clock (functions/drain_lease/lease.py).
EXPRESS_LIMIT_SECONDS = 300.0
STATE_DATA_LIMIT_BYTES = 262_144  # a state's input or output, as UTF-8 JSON
# A short poll answers nothing with this probability while fewer than SHORT_POLL_FEW_MESSAGES
# messages are visible; drawn per queue and call from SHORT_POLL_SEED, so a run repeats.
SHORT_POLL_MISS_PROBABILITY = 0.5
SHORT_POLL_FEW_MESSAGES = 10
SHORT_POLL_SEED = 0


def set_strict(strict: bool) -> None:
    """Refuse what AWS refuses (True, the default) or run lenient, as moto alone does (False)."""
    global STRICT
    STRICT = strict


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    from moto.cloudformation import parsing

    original = parsing.clean_json

    def clean_json(resource_json: Any, resources_map: Any) -> Any:
        # CloudFormation drops a list item that resolves to AWS::NoValue (e.g. a conditional
        # policy in a role's Policies); moto leaves None in the list.
        cleaned = original(resource_json, resources_map)
        if isinstance(resource_json, list) and isinstance(cleaned, list):
            return [item for item in cleaned if item is not None]
        return cleaned

    parsing.clean_json = clean_json
    _install_condition_equals()
    _install_sdk_casing()
    _install_bucket_properties()
    _install_null_version_ids()
    _install_sqs_atomicity()
    _install_sfn_client_reuse()
    _install_parse_once()
    _install_sqs_clock_once()
    _install_execution_logging()
    _install_subscription_event_ids()
    _install_branch_error_names()
    _install_uncatchable_errors()
    _install_state_data_limit()
    _install_express_limit()
    _install_execution_names()
    _install_sqs_message_size()
    _install_short_polls()
    _install_delivery_failures()
    _install_message_move_tasks()


def _install_condition_equals() -> None:
    """A Ref to a Number parameter is a string in CloudFormation ("0"), so Fn::Equals of it and
    "0" is true; moto resolves the parameter to an int and compares 0 with "0" as unequal."""
    from moto.cloudformation import parsing

    original = parsing.parse_condition

    def parse_condition(condition: Any, resources_map: Any, condition_map: Any) -> bool:
        if isinstance(condition, dict) and list(condition) == ["Fn::Equals"]:
            values = [parsing.clean_json(v, resources_map) for v in condition["Fn::Equals"]]
            scalars = all(
                isinstance(v, int | float | str) and not isinstance(v, bool) for v in values
            )
            if scalars:
                return str(values[0]) == str(values[1])
        return bool(original(condition, resources_map, condition_map))

    parsing.parse_condition = parse_condition


def _install_subscription_event_ids() -> None:
    """CloudWatch Logs gives each event in a subscription payload its id as a string of digits;
    moto gives an integer, which a forwarder checking the payload's shape rightly refuses."""
    from moto.awslambda.models import LambdaBackend

    original = LambdaBackend.send_log_event

    def send_log_event(
        self: Any,
        function_arn: str,
        filter_name: str,
        log_group_name: str,
        log_stream_name: str,
        log_events: Any,
    ) -> None:
        events = [{**event, "id": str(event["id"])} for event in log_events]
        original(self, function_arn, filter_name, log_group_name, log_stream_name, events)

    LambdaBackend.send_log_event = send_log_event  # type: ignore[method-assign]


def _install_execution_logging() -> None:
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


def _install_parse_once() -> None:
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


def _install_sqs_clock_once() -> None:
    """moto's SQS read the clock twice per message on every receive and depth read (O(queue)
    datetime calls under the queue lock): with 1,000 messages queued that, not the drain, set
    the pace of benchmarks/bound.py. Same visibility rules, the clock read once per call."""
    from moto.core.utils import unix_time_millis
    from moto.sqs.models import Queue

    def messages(self: Any) -> list[Any]:
        now = unix_time_millis()
        return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]

    def delayed(self: Any) -> int:
        now = unix_time_millis()
        return sum(1 for m in self._messages if now < m.delayed_until)

    def not_visible(self: Any) -> int:
        now = unix_time_millis()
        return sum(1 for m in self._messages if not now > m.visible_at)

    Queue.messages = property(messages)  # type: ignore[method-assign,assignment]
    Queue.approximate_number_of_messages_delayed = property(delayed)  # type: ignore[method-assign,assignment]
    Queue.approximate_number_of_messages_not_visible = property(not_visible)  # type: ignore[method-assign,assignment]


def _install_sfn_client_reuse() -> None:
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


def _install_sqs_atomicity() -> None:
    """SQS hands a message to one receiver at a time and a delete is final; moto's queue is not
    thread-safe. Its delete rebuilds the message list and assigns it back, so two deletes at
    once (a Map deleting its items in parallel) can undo one another and the message comes back
    after the visibility timeout (seen: 11 of 1,000 objects processed twice); an append racing
    the rebuild is lost. Each queue's own lock (the Condition moto appends under, re-entrant,
    released while a long poll waits) now also covers delete, receive and visibility changes."""
    from moto.sqs.models import Queue, SQSBackend

    original_delete = Queue.delete_message

    def delete_message(self: Any, receipt_handle: str) -> None:
        with self._messages_lock:
            original_delete(self, receipt_handle)

    Queue.delete_message = delete_message  # type: ignore[method-assign]

    for name in ("receive_message", "change_message_visibility"):
        original = getattr(SQSBackend, name)

        def locked(
            self: Any, queue_name: str, *args: Any, _original: Any = original, **kwargs: Any
        ) -> Any:
            with self.get_queue(queue_name)._messages_lock:
                return _original(self, queue_name, *args, **kwargs)

        setattr(SQSBackend, name, locked)


def _install_bucket_properties() -> None:
    """moto's CloudFormation applies only BucketEncryption and Tags of an AWS::S3::Bucket;
    AWS also applies EventBridge notifications and versioning, which the pipeline relies on."""
    from moto.s3.models import FakeBucket

    original = FakeBucket.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_from_cloudformation_json(
        cls: Any,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        bucket = original(
            cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
        )
        properties = cloudformation_json.get("Properties", {})
        notifications = properties.get("NotificationConfiguration", {})
        eventbridge = notifications.get("EventBridgeConfiguration", {})
        if eventbridge.get("EventBridgeEnabled") in (True, "true"):
            bucket.set_notification_configuration({"EventBridgeConfiguration": {}})
        status = properties.get("VersioningConfiguration", {}).get("Status")
        if status in ("Enabled", "Suspended"):
            bucket.versioning_status = status
        return bucket

    FakeBucket.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)  # type: ignore[method-assign,assignment]


def _bucket_versioning(bucket_name: str | None) -> str | None:
    """The bucket's versioning status ("Enabled", "Suspended"), None if never versioned."""
    from moto.s3.models import s3_backends

    located = s3_backends.bucket_accounts.get(bucket_name or "")
    if located is None:
        return None
    partition, account_id = located
    bucket = s3_backends[account_id][partition].buckets.get(bucket_name or "")
    return getattr(bucket, "versioning_status", None)


def _install_null_version_ids() -> None:
    """S3 gives an object written while versioning is suspended (or before it was enabled) the
    version id "null" and says so: `x-amz-version-id: null` on PutObject, GetObject and
    HeadObject once the bucket has a versioning status, `version-id: "null"` in its
    EventBridge event, and HeadObject with VersionId=null finds it. A never-versioned bucket
    answers no version id anywhere. moto left the header out for "null", put `version-id:
    "null"` in never-versioned buckets' events and refused HeadObject with a version id (400)
    unless versioning is Enabled, so code keyed on VersionId met a different S3 locally."""
    import contextvars

    from moto.events.models import Rule
    from moto.s3.models import FakeBucket, FakeKey
    from moto.s3.responses import S3Response

    response_dict = FakeKey.response_dict

    def null_version_header(self: Any) -> dict[str, Any]:
        headers: dict[str, Any] = response_dict.fget(self)  # type: ignore[attr-defined]
        if (
            "x-amz-version-id" not in headers
            and self.version_id == "null"
            and _bucket_versioning(self.bucket_name) is not None
        ):
            headers["x-amz-version-id"] = "null"
        return headers

    FakeKey.response_dict = property(null_version_header)  # type: ignore[method-assign,assignment]

    # HeadObject refuses a version id unless the bucket "is versioned" (Enabled); S3 looks the
    # id up in any bucket with a versioning status. Widen that one check, for HEAD only.
    in_head = contextvars.ContextVar("sluice_s3_head", default=False)
    is_versioned = FakeBucket.is_versioned

    def versioned(self: Any) -> bool:
        enabled: bool = is_versioned.fget(self)  # type: ignore[attr-defined]
        return enabled or (in_head.get() and self.versioning_status is not None)

    FakeBucket.is_versioned = property(versioned)  # type: ignore[method-assign,assignment]
    head_object = S3Response.head_object

    def head(self: Any, *args: Any, **kwargs: Any) -> Any:
        token = in_head.set(True)
        try:
            return head_object(self, *args, **kwargs)
        finally:
            in_head.reset(token)

    S3Response.head_object = head  # type: ignore[method-assign]

    send_to_targets = Rule.send_to_targets

    def without_null_version(self: Any, event: Any, transform_input: bool = True) -> None:
        # moto builds the S3 event from the key alone; the bucket decides if it has a version.
        detail = event.get("detail") if event.get("source") == "aws.s3" else None
        if isinstance(detail, dict) and isinstance(detail.get("object"), dict):
            obj, bucket = detail["object"], detail.get("bucket") or {}
            if obj.get("version-id") == "null" and _bucket_versioning(bucket.get("name")) is None:
                obj = {k: v for k, v in obj.items() if k != "version-id"}
                event = {**event, "detail": {**detail, "object": obj}}
        send_to_targets(self, event, transform_input)

    Rule.send_to_targets = without_null_version  # type: ignore[method-assign,assignment]


def _install_sdk_casing() -> None:
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


def _install_branch_error_names() -> None:
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


def _install_uncatchable_errors() -> None:
    """Strict. In AWS, States.ALL in a Catch or Retry matches neither States.DataLimitExceeded
    (a state's data over 256 KiB: only a catcher or retrier naming it sees it) nor States.Runtime
    (never retried or caught: the execution fails). moto's States.ALL matched both."""
    from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import (
        ErrorEqualsDecl,
    )

    original = ErrorEqualsDecl._eval_body

    def _eval_body(self: Any, env: Any) -> None:
        name = getattr(env.stack[-1], "error_name", None) if env.stack else None
        named = any(n.error_name == name for n in self.error_names)
        if STRICT and (
            name == "States.Runtime" or (name == "States.DataLimitExceeded" and not named)
        ):
            env.stack.pop()
            env.stack.append(False)
            return
        original(self, env)

    ErrorEqualsDecl._eval_body = _eval_body  # type: ignore[method-assign]


def _state_data_size(value: Any) -> int:
    """The bytes Step Functions counts: the value as compact JSON, UTF-8 encoded."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    return len(text.encode("utf-8"))


def _data_limit_failure(env: Any, cause: str) -> Exception:
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
        StatesErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    error = StatesErrorNameType.StatesStatesDataLimitExceeded
    return FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=StatesErrorName(typ=error),
            event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(  # type: ignore[typeddict-item]  # total in moto
                taskFailedEventDetails=TaskFailedEventDetails(error=error.to_name(), cause=cause)
            ),
        )
    )


def _install_state_data_limit() -> None:
    """Strict. Step Functions refuses a state's input (after Parameters) or output, or a Task's
    result, over 256 KiB of UTF-8 JSON with States.DataLimitExceeded. moto checks outputs and
    results only, measuring JSON with spaces after separators and non-ASCII escaped (an array of
    small numbers counted ~40% over: refused where AWS accepts) and refusing exactly 256 KiB.
    Measure as AWS does, and check what a Task sends too."""
    import importlib

    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import StateTask
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import (
        StateTaskLambda,
    )

    def within(value: Any) -> bool:
        return not STRICT or _state_data_size(value) <= STATE_DATA_LIMIT_BYTES

    prefix = "moto.stepfunctions.parser.asl.component.state."
    for module in (
        "state",
        "exec.state_task.state_task_lambda",
        "exec.state_task.service.state_task_service",
    ):
        importlib.import_module(prefix + module).is_within_size_quota = within  # type: ignore[attr-defined]

    for cls in (StateTask, StateTaskLambda):

        def _eval_parameters(self: Any, env: Any, _original: Any = cls._eval_parameters) -> Any:
            parameters = _original(self, env)
            sent = parameters.get("Payload") if isinstance(self, StateTaskLambda) else parameters
            if not within(sent):
                raise _data_limit_failure(
                    env,
                    f"The state/task '{self.name}' has an input (after Parameters) larger than "
                    "the maximum number of bytes service limit.",
                )
            return parameters

        cls._eval_parameters = _eval_parameters  # type: ignore[method-assign]


class _ExpressClock:
    """One Express execution's deadline, in wall-clock (monotonic) seconds; a Wait that would
    outlast it brings it forward."""

    def __init__(self, limit_s: float) -> None:
        self.limit = self.deadline = time.monotonic() + limit_s
        self.done = False
        self.changed = threading.Event()

    def cut(self, at: float) -> None:
        self.deadline = min(self.deadline, at)
        self.changed.set()


def _install_express_limit() -> None:
    """Strict. An Express execution ends TIMED_OUT (ExecutionTimedOut) 5 minutes after it
    started, or at its TimeoutSeconds if shorter; moto runs it for as long as it takes. The limit
    is on the wall clock, as the execution's own clock is; but a Wait is time-scaled here, so a
    Wait that would carry the execution past its limit by that clock (AWS would still be waiting
    at 5 minutes) times it out once its scaled part up to the limit has passed."""
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
    from moto.stepfunctions.parser.asl.component.program.program import Program
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (
        WaitFunction,
    )
    from moto.stepfunctions.parser.asl.eval.evaluation_details import StateMachineDetails
    from moto.stepfunctions.parser.backend.execution import Execution
    from moto.stepfunctions.parser.utils import TMP_THREADS

    from sluice_local.emulator import timescale

    original_eval = Program.eval

    def eval_program(self: Any, env: Any) -> None:
        if not STRICT or env.is_frame() or env.execution_type != "EXPRESS":
            original_eval(self, env)
            return
        own = self.timeout_seconds.timeout_seconds if self.timeout_seconds else None
        clock = _ExpressClock(min(own or EXPRESS_LIMIT_SECONDS, EXPRESS_LIMIT_SECONDS))
        env.event_manager.sluice_express_clock = clock  # shared with every frame (Map, Parallel)
        env.next_state_name = self.start_at.start_at_name

        def run() -> None:
            try:
                EvalComponent.eval(self, env)
            finally:
                clock.done = True
                clock.changed.set()

        worker = threading.Thread(target=run, daemon=True)
        TMP_THREADS.append(worker)
        worker.start()
        while not clock.done:
            remaining = clock.deadline - time.monotonic()
            if remaining <= 0:
                env.set_timed_out()  # as moto does at TimeoutSeconds: the worker stops at once
                return
            clock.changed.wait(remaining)
            clock.changed.clear()

    Program.eval = eval_program  # type: ignore[method-assign]

    # moto gives every state machine sm_type "STANDARD" (its real type is in .type): hand the
    # execution's environment the real one.
    def state_machine_details(self: Any) -> StateMachineDetails:
        machine = self.state_machine
        return StateMachineDetails(
            arn=machine.arn,
            name=machine.name,
            typ=getattr(machine, "type", None) or machine.sm_type,
            definition=machine.definition,
        )

    Execution.get_start_state_machine_details = state_machine_details  # type: ignore[method-assign]

    original_wait = WaitFunction._eval_body

    def wait_body(self: Any, env: Any) -> None:
        clock = getattr(env.event_manager, "sluice_express_clock", None)
        if not STRICT or clock is None:
            original_wait(self, env)
            return
        seconds = self._get_wait_seconds(env=env)
        now = time.monotonic()
        if now + seconds > clock.limit:
            clock.cut(now + max(0.0, clock.limit - now) * timescale.current_scale())
        self._wait_interval(env=env, wait_seconds=seconds)

    WaitFunction._eval_body = wait_body  # type: ignore[method-assign]


def _sqs_message_size(body: str, attributes: dict[str, Any] | None) -> int:
    """SQS's count: the body and each attribute's name, data type and value, in bytes."""
    size = len(body.encode("utf-8"))
    for name, attribute in (attributes or {}).items():
        size += len(name.encode("utf-8")) + len(str(attribute.get("DataType", "")).encode("utf-8"))
        if "BinaryValue" in attribute:
            value = attribute["BinaryValue"]
            size += len(value) if isinstance(value, bytes) else len(base64.b64decode(value))
        else:
            size += len(str(attribute.get("StringValue", "")).encode("utf-8"))
    return size


_last_send = threading.local()  # this thread's last SendMessage: (body, attributes)


def _install_sqs_message_size() -> None:
    """Strict. SQS refuses a message whose body plus message attributes (names, data types,
    values) exceeds the queue's MaximumMessageSize in bytes: InvalidParameterValue, "Message must
    be shorter than N bytes". moto counted the body's characters only, so non-ASCII text or large
    attributes got through. A batch is refused whole, before any entry is sent."""
    from moto.sqs.exceptions import BatchRequestTooLong, InvalidParameterValue
    from moto.sqs.models import MAXIMUM_MESSAGE_LENGTH, SQSBackend

    def check(queue: Any, body: str, attributes: dict[str, Any] | None) -> int:
        size = _sqs_message_size(body, attributes)
        if size > queue.maximum_message_size:
            raise InvalidParameterValue(
                "One or more parameters are invalid. Reason: Message must be shorter than "
                f"{queue.maximum_message_size} bytes."
            )
        return size

    send_message = SQSBackend.send_message
    send_message_batch = SQSBackend.send_message_batch

    def send(
        self: Any,
        queue_name: str,
        message_body: str,
        message_attributes: dict[str, Any] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        # What SNS was delivering, should the queue refuse it (see _install_delivery_failures).
        _last_send.message = (message_body, message_attributes or {})
        if STRICT:
            check(self.get_queue(queue_name), message_body, message_attributes)
        return send_message(self, queue_name, message_body, message_attributes, *args, **kwargs)

    def send_batch(self: Any, queue_name: str, entries: dict[str, dict[str, Any]]) -> Any:
        if STRICT:
            queue = self.get_queue(queue_name)
            total = sum(
                check(queue, e["MessageBody"], e.get("MessageAttributes")) for e in entries.values()
            )
            if total > MAXIMUM_MESSAGE_LENGTH:
                raise BatchRequestTooLong(total)
        return send_message_batch(self, queue_name, entries)

    SQSBackend.send_message = send  # type: ignore[method-assign]
    SQSBackend.send_message_batch = send_batch  # type: ignore[method-assign]


def _install_short_polls() -> None:
    """Strict. A short poll (WaitTimeSeconds 0 and no ReceiveMessageWaitTimeSeconds) asks only a
    sample of SQS's servers: with few messages queued "a particular request might not return any
    of your messages" (SQS docs, short and long polling); a later one will. moto always answered
    from every message. With fewer than SHORT_POLL_FEW_MESSAGES visible, a short poll now answers
    none with probability SHORT_POLL_MISS_PROBABILITY, drawn per queue and call from
    SHORT_POLL_SEED (a queue's n-th short poll answers alike in every run); a long poll always
    sees what is there."""
    from moto.sqs.models import SQSBackend

    original = SQSBackend.receive_message
    lock = threading.Lock()

    def receive_message(
        self: Any,
        queue_name: str,
        count: int,
        wait_seconds_timeout: float,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        if STRICT and not wait_seconds_timeout and SHORT_POLL_MISS_PROBABILITY > 0:
            queue = self.get_queue(queue_name)
            with lock:
                polls = queue.__dict__.get("sluice_short_polls", 0)
                queue.sluice_short_polls = polls + 1
            draw = random.Random(f"{SHORT_POLL_SEED}:{queue.name}:{polls}").random()  # noqa: S311 - a simulation, not a secret
            if draw < SHORT_POLL_MISS_PROBABILITY and len(queue.messages) < SHORT_POLL_FEW_MESSAGES:
                return []
        return original(self, queue_name, count, wait_seconds_timeout, *args, **kwargs)  # type: ignore[arg-type]

    SQSBackend.receive_message = receive_message  # type: ignore[method-assign]


def _install_delivery_failures() -> None:
    """A queue refusing a delivery (a message over its MaximumMessageSize) does not fail the
    publisher: EventBridge and SNS accept the event, fail that delivery, and send the event to the
    target's DeadLetterConfig or the subscription's RedrivePolicy queue, or drop it. moto raised
    the queue's error into PutEvents, Publish, or the S3 request whose event it was. EventBridge's
    dead letter carries RULE_ARN, TARGET_ARN, ERROR_CODE and ERROR_MESSAGE attributes (here the
    queue's error code and message); SNS's carries the message as it was to be delivered."""
    from moto.events.models import Rule
    from moto.sns.models import Subscription
    from moto.sqs.exceptions import InvalidParameterValue
    from moto.sqs.models import sqs_backends

    def dead_letter(account_id: str, queue_arn: str, body: str, attributes: dict[str, Any]) -> None:
        _, _, _, region, account, name = queue_arn.split(":", 5)
        with contextlib.suppress(InvalidParameterValue):  # too large there too: dropped
            sqs_backends[account or account_id][region].send_message(name, body, attributes)

    to_queue = Rule._send_to_sqs_queue

    def send_to_queue(
        self: Any, resource_id: str, event: dict[str, Any], group_id: str | None = None
    ) -> None:
        try:
            to_queue(self, resource_id, event, group_id)
        except InvalidParameterValue as error:
            for target in self.targets:
                arn = str(target["Arn"])
                queue_arn = (target.get("DeadLetterConfig") or {}).get("Arn")
                if ":sqs:" in arn and arn.endswith(f":{resource_id}") and queue_arn:
                    attributes = {
                        "RULE_ARN": self.arn,
                        "TARGET_ARN": arn,
                        "ERROR_CODE": error.code,
                        "ERROR_MESSAGE": error.message,
                    }
                    dead_letter(
                        self.account_id,
                        queue_arn,
                        json.dumps(event),
                        {
                            k: {"DataType": "String", "StringValue": v}
                            for k, v in attributes.items()
                        },
                    )
                    return

    Rule._send_to_sqs_queue = send_to_queue  # type: ignore[method-assign]

    publish = Subscription.publish

    def publish_or_dead_letter(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            publish(self, *args, **kwargs)
        except InvalidParameterValue:
            policy = json.loads(self.attributes.get("RedrivePolicy") or "{}")
            queue_arn = policy.get("deadLetterTargetArn")
            if self.protocol == "sqs" and queue_arn:
                body, attributes = _last_send.message
                dead_letter(self.account_id, queue_arn, body, attributes)
            elif self.protocol != "sqs":
                raise

    Subscription.publish = publish_or_dead_letter  # type: ignore[method-assign]


def _install_execution_names() -> None:
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


# SQS's own limit for StartMessageMoveTask's MaxNumberOfMessagesPerSecond.
MOVE_TASK_MAX_RATE = 500
# Move tasks answer only while a local pipeline runs (LocalPipeline sets it): elsewhere in the
# same process, moto alone answers as it always did (NotImplementedError).
_move_tasks_active = False


def set_move_tasks(active: bool) -> None:
    global _move_tasks_active
    _move_tasks_active = active


def _require_move_tasks(action: str) -> None:
    if not _move_tasks_active:
        raise NotImplementedError(f"The {action} action has not been implemented")


@dataclass
class _MoveTask:
    """One StartMessageMoveTask, as ListMessageMoveTasks describes it."""

    handle: str
    source_arn: str
    destination_arn: str | None
    rate: int | None
    to_move: int
    started_ms: int
    moved: int = 0
    status: str = "RUNNING"
    failure: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event)

    def entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "Status": self.status,
            "SourceArn": self.source_arn,
            "ApproximateNumberOfMessagesMoved": self.moved,
            "ApproximateNumberOfMessagesToMove": self.to_move,
            "StartedTimestamp": self.started_ms,
        }
        if self.status == "RUNNING":  # AWS gives the handle of a running task only
            entry["TaskHandle"] = self.handle
        if self.destination_arn:
            entry["DestinationArn"] = self.destination_arn
        if self.rate is not None:
            entry["MaxNumberOfMessagesPerSecond"] = self.rate
        if self.failure:
            entry["FailureReason"] = self.failure
        return entry


def _install_message_move_tasks() -> None:
    """SQS's dead-letter queue redrive (StartMessageMoveTask, ListMessageMoveTasks,
    CancelMessageMoveTask), which moto does not implement: the task moves the messages visible in
    the dead-letter queue when it starts to the destination (DestinationArn, else the one queue
    whose RedrivePolicy names the dead-letter queue) at MaxNumberOfMessagesPerSecond (real
    seconds), each sent as a new message with its body and attributes, then deleted. As in SQS:
    the source must be some queue's dead-letter queue, standard queues only, one running task per
    source, the rate at most 500, ListMessageMoveTasks newest first (MaxResults 1 to 10) with the
    TaskHandle of a running task only. Locally a DLQ with several source queues needs a
    DestinationArn (SQS remembers each message's source; moto does not)."""
    import uuid

    from moto.core.exceptions import JsonRESTError
    from moto.core.responses import ActionResult
    from moto.sqs.exceptions import InvalidParameterValue
    from moto.sqs.models import SQSBackend
    from moto.sqs.responses import SQSResponse

    def tasks_of(backend: SQSBackend) -> list[_MoveTask]:
        # On the backend: a reset (mock_aws start) forgets them with the queues.
        tasks: list[_MoveTask] = backend.__dict__.setdefault("sluice_move_tasks", [])
        return tasks

    def queue_named_by(backend: SQSBackend, arn: str) -> Any:
        return backend.get_queue(str(arn).rsplit(":", 1)[-1])  # QueueDoesNotExist if none

    def move(backend: SQSBackend, task: _MoveTask, source: Any, destination: Any) -> None:
        interval = 1.0 / task.rate if task.rate else 0.0
        try:
            while task.moved < task.to_move and not task.cancel.is_set():
                with source._messages_lock:
                    visible = source.messages
                    message = visible[0] if visible else None
                    if message is not None:
                        source._messages.remove(message)
                if message is None:
                    break  # fewer left than counted at the start (received, expired)
                try:
                    backend.send_message(
                        destination.name, message.body, dict(message.message_attributes)
                    )
                except InvalidParameterValue as error:
                    with source._messages_lock:
                        source._messages.append(message)  # not moved: it stays
                    task.status, task.failure = "FAILED", error.message
                    return
                task.moved += 1
                if interval:
                    task.cancel.wait(interval)
            task.status = "CANCELLED" if task.cancel.is_set() else "COMPLETED"
        except Exception as error:  # the task fails; the process carries on
            task.status, task.failure = "FAILED", str(error)

    def start_message_move_task(self: Any) -> ActionResult:
        _require_move_tasks("start_message_move_task")
        backend = self.sqs_backend
        source_arn = self._get_param("SourceArn")
        destination_arn = self._get_param("DestinationArn")
        rate = self._get_param("MaxNumberOfMessagesPerSecond")
        rate = int(rate) if rate is not None else None
        if rate is not None and not 1 <= rate <= MOVE_TASK_MAX_RATE:
            raise InvalidParameterValue(
                f"Value {rate} for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: "
                f"must be between 1 and {MOVE_TASK_MAX_RATE}."
            )
        source = queue_named_by(backend, source_arn)
        origins = backend.list_dead_letter_source_queues(source.name)
        if not origins:
            raise InvalidParameterValue("Source queue must be configured as a Dead Letter Queue.")
        if source.fifo_queue:
            raise InvalidParameterValue("The source queue must be a standard queue.")
        if destination_arn:
            destination = queue_named_by(backend, destination_arn)
        elif len(origins) == 1:
            destination = origins[0]
        else:
            raise InvalidParameterValue(
                "The local emulator cannot tell which source queue each message came from: "
                "give DestinationArn."
            )
        tasks = tasks_of(backend)
        if any(t.source_arn == source_arn and t.status == "RUNNING" for t in tasks):
            raise InvalidParameterValue(
                "There is already a task running. Only one active task is allowed for a source "
                "queue arn at a given time."
            )
        task = _MoveTask(
            handle=base64.b64encode(
                json.dumps({"taskId": str(uuid.uuid4()), "sourceArn": source_arn}).encode()
            ).decode(),
            source_arn=source_arn,
            destination_arn=destination_arn,
            rate=rate,
            to_move=len(source.messages),
            started_ms=int(time.time() * 1000),
        )
        tasks.append(task)
        threading.Thread(
            target=move, args=(backend, task, source, destination), daemon=True
        ).start()
        return ActionResult({"TaskHandle": task.handle})

    def list_message_move_tasks(self: Any) -> ActionResult:
        _require_move_tasks("list_message_move_tasks")
        source_arn = self._get_param("SourceArn")
        queue_named_by(self.sqs_backend, source_arn)
        limit = int(self._get_param("MaxResults") or 1)
        if not 1 <= limit <= 10:
            raise InvalidParameterValue(
                f"Value {limit} for parameter MaxResults is invalid. Reason: must be between 1 "
                "and 10."
            )
        tasks = [t for t in tasks_of(self.sqs_backend) if t.source_arn == source_arn]
        return ActionResult({"Results": [t.entry() for t in reversed(tasks)][:limit]})

    def cancel_message_move_task(self: Any) -> ActionResult:
        _require_move_tasks("cancel_message_move_task")
        handle = self._get_param("TaskHandle")
        for task in tasks_of(self.sqs_backend):
            if task.handle == handle and task.status == "RUNNING":
                task.status = "CANCELLING"
                task.cancel.set()
                return ActionResult({"ApproximateNumberOfMessagesMoved": task.moved})
        raise JsonRESTError(
            "ResourceNotFoundException", "One or more specified resources don't exist."
        )

    response: Any = SQSResponse  # moto's dispatcher calls the action's snake_case method
    response.start_message_move_task = start_message_move_task
    response.list_message_move_tasks = list_message_move_tasks
    response.cancel_message_move_task = cancel_message_move_task
