"""The emulator's S3 answers version ids as S3 does (see emulator/s3_fixes.py):
"null" once versioning is suspended, nothing for a never-versioned bucket, real ids when enabled."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sluice_local.emulator import fixes as emulator_fixes

REGION = "us-east-1"


@pytest.fixture
def aws() -> Iterator[tuple[Any, Any, str]]:
    """S3 with EventBridge notifications on, "Object Created" events delivered to a queue."""
    emulator_fixes.install()
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        events = boto3.client("events", region_name=REGION)
        url = sqs.create_queue(QueueName="s3-events")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events.put_rule(
            Name="s3",
            EventPattern=json.dumps({"source": ["aws.s3"], "detail-type": ["Object Created"]}),
        )
        events.put_targets(Rule="s3", Targets=[{"Id": "q", "Arn": arn}])
        yield s3, sqs, url


def make_bucket(s3: Any, name: str, status: str | None) -> None:
    s3.create_bucket(Bucket=name)
    s3.put_bucket_notification_configuration(
        Bucket=name, NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    if status:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": status})


def event_objects(sqs: Any, url: str) -> list[dict[str, Any]]:
    found = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
        "Messages"
    ):
        for message in batch:
            found.append(json.loads(message["Body"])["detail"]["object"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def test_a_suspended_bucket_answers_null_everywhere(aws: tuple[Any, Any, str]) -> None:
    s3, sqs, url = aws
    make_bucket(s3, "suspended", "Suspended")
    put = s3.put_object(Bucket="suspended", Key="k.csv", Body=b"id\n1\n")
    again = s3.put_object(Bucket="suspended", Key="k.csv", Body=b"id\n1\n2\n")  # overwrite

    assert (put["VersionId"], again["VersionId"]) == ("null", "null")
    assert s3.get_object(Bucket="suspended", Key="k.csv")["VersionId"] == "null"
    assert s3.head_object(Bucket="suspended", Key="k.csv")["VersionId"] == "null"
    by_version = s3.get_object(Bucket="suspended", Key="k.csv", VersionId="null")
    assert by_version["Body"].read() == b"id\n1\n2\n"  # the null version is the latest write
    head = s3.head_object(Bucket="suspended", Key="k.csv", VersionId="null")
    assert (head["VersionId"], head["ETag"]) == ("null", again["ETag"])
    assert [o["version-id"] for o in event_objects(sqs, url)] == ["null", "null"]


def test_a_never_versioned_bucket_answers_no_version_id(aws: tuple[Any, Any, str]) -> None:
    s3, sqs, url = aws
    make_bucket(s3, "plain", None)
    assert "VersionId" not in s3.put_object(Bucket="plain", Key="k.csv", Body=b"id\n1\n")
    assert "VersionId" not in s3.get_object(Bucket="plain", Key="k.csv")
    assert "VersionId" not in s3.head_object(Bucket="plain", Key="k.csv")
    [obj] = event_objects(sqs, url)
    assert obj["key"] == "k.csv" and "version-id" not in obj


def test_an_enabled_bucket_answers_real_ids(aws: tuple[Any, Any, str]) -> None:
    s3, sqs, url = aws
    make_bucket(s3, "enabled", "Enabled")
    first = s3.put_object(Bucket="enabled", Key="k.csv", Body=b"id\n1\n")["VersionId"]
    second = s3.put_object(Bucket="enabled", Key="k.csv", Body=b"id\n2\n")["VersionId"]
    assert "null" not in (first, second) and first != second
    assert s3.get_object(Bucket="enabled", Key="k.csv")["VersionId"] == second
    assert s3.head_object(Bucket="enabled", Key="k.csv", VersionId=first)["VersionId"] == first
    assert [o["version-id"] for o in event_objects(sqs, url)] == [first, second]


def test_objects_from_before_versioning_answer_null_once_it_is_enabled(
    aws: tuple[Any, Any, str],
) -> None:
    s3, _, _ = aws
    make_bucket(s3, "later", None)
    s3.put_object(Bucket="later", Key="old.csv", Body=b"id\n1\n")
    s3.put_bucket_versioning(Bucket="later", VersioningConfiguration={"Status": "Enabled"})
    assert s3.head_object(Bucket="later", Key="old.csv")["VersionId"] == "null"
    assert s3.get_object(Bucket="later", Key="old.csv", VersionId="null")["VersionId"] == "null"
