"""Deliveries between services as AWS makes them, where moto departs: CloudWatch Logs
subscription event ids, and a refused delivery that fails the delivery, not the publisher.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from sluice_local.emulator import sqs_fixes


def install_subscription_event_ids() -> None:
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


def install_delivery_failures() -> None:
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
                body, attributes = sqs_fixes.last_send.message
                dead_letter(self.account_id, queue_arn, body, attributes)
            elif self.protocol != "sqs":
                raise

    Subscription.publish = publish_or_dead_letter  # type: ignore[method-assign]
