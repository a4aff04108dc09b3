"""ExecutionAlert's code root and the common layer on sys.path; the alarm topic in moto."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from testkit.functions import function_under_test

fresh_handler = function_under_test("execution_alert")


@pytest.fixture
def awslogs() -> Callable[..., dict[str, Any]]:
    """A subscription delivery carrying these log messages, as CloudWatch Logs encodes it."""

    def encode(*messages: str, message_type: str = "DATA_MESSAGE") -> dict[str, Any]:
        payload = {
            "messageType": message_type,
            "owner": "123456789012",
            "logGroup": "/aws/vendedlogs/states/sluice-drain",
            "logStream": "states/sluice-DrainStateMachine/2025-03-14-10-41/1a2b3c4d",
            "subscriptionFilters": ["sluice-ExecutionAlertSubscription"],
            "logEvents": [
                {"id": str(n), "timestamp": 1741948915000 + n, "message": message}
                for n, message in enumerate(messages)
            ],
        }
        data = base64.b64encode(gzip.compress(json.dumps(payload).encode())).decode()
        return {"awslogs": {"data": data}}

    return encode


@dataclass(frozen=True)
class Topic:
    """The alarm topic with an SQS queue subscribed: what was published arrives there."""

    arn: str
    sqs: Any
    queue_url: str

    def received(self) -> list[dict[str, Any]]:
        """The SNS envelopes (Subject, Message, MessageAttributes) delivered so far."""
        envelopes: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            if not batch.get("Messages"):
                return envelopes
            for message in batch["Messages"]:
                envelopes.append(json.loads(message["Body"]))
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )


@pytest.fixture
def topic() -> Iterator[Topic]:
    import boto3
    from moto import mock_aws

    with mock_aws():
        sns = boto3.client("sns", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        arn = sns.create_topic(Name="sluice-AlarmTopic")["TopicArn"]
        url = sqs.create_queue(QueueName="alarm-topic-reader")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)
        yield Topic(arn=arn, sqs=sqs, queue_url=url)
