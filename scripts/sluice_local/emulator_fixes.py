"""Fixes to moto where it departs from AWS in ways the template relies on.

Each fix makes moto behave like the real service, or keeps moto's own overhead from distorting
what the benchmarks measure; none restates the pipeline.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from typing import Any

_installed = False


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
    _install_sdk_casing()
    _install_bucket_properties()
    _install_null_version_ids()
    _install_sqs_atomicity()
    _install_sfn_client_reuse()
    _install_parse_once()
    _install_sqs_clock_once()
    _install_execution_logging()
    _install_subscription_event_ids()


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
