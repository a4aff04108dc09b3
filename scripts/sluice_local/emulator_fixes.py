"""Fixes to moto where it departs from AWS in ways the template relies on.

Each fix makes moto behave like the real service; none restates the pipeline.
"""

from __future__ import annotations

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
    _install_sqs_atomicity()


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
