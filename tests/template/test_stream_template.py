"""The stream pipeline's template, checked without an emulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from samtranslator.yaml_helper import yaml_parse

from sluice_local.emulator.template import load_and_translate

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = yaml_parse((ROOT / "template.yaml").read_text())
RESOURCES = TEMPLATE["Resources"]
STREAM_PARTS = (
    "StreamKey",
    "EventStream",
    "StreamDeadLetterQueue",
    "StreamDeadLetterQueuePolicy",
    "ProcessStreamFunction",
    "ProcessStreamMapping",
    "StreamEventTable",
    "ProcessStreamLogGroup",
    "StreamFailedEventsAlarm",
    "StreamDeadLetterAlarm",
    "StreamIteratorAgeAlarm",
)


def _translated(**overrides: str) -> dict[str, Any]:
    params = {"EnableStreamPipeline": "true", **overrides}
    return load_and_translate(ROOT / "template.yaml", params).cloudformation["Resources"]


def test_the_stream_pipeline_exists_only_when_switched_on() -> None:
    assert TEMPLATE["Parameters"]["EnableStreamPipeline"]["Default"] == "false"
    for logical_id in STREAM_PARTS:
        assert RESOURCES[logical_id]["Condition"] == "CreateStreamPipeline", logical_id


def test_the_mapping_reports_partial_failures_bisects_and_dead_letters_ranges() -> None:
    mapping = RESOURCES["ProcessStreamMapping"]["Properties"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] == {"Fn::If": ["BisectStreamBatches", True, False]}
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["StreamDeadLetterQueue", "Arn"]
    }
    for prop, parameter in (
        ("BatchSize", "StreamBatchSize"),
        ("MaximumBatchingWindowInSeconds", "StreamBatchWindowSeconds"),
        ("StartingPosition", "StreamStartingPosition"),
        ("ParallelizationFactor", "StreamParallelizationFactor"),
        ("MaximumRetryAttempts", "StreamMaximumRetryAttempts"),
        ("MaximumRecordAgeInSeconds", "StreamMaximumRecordAgeSeconds"),
    ):
        assert mapping[prop] == {"Ref": parameter}, prop
    # A finite retry count: an infinite one (-1) would block the shard on one bad record.
    assert TEMPLATE["Parameters"]["StreamMaximumRetryAttempts"]["MinValue"] == 0


def test_the_stream_is_encrypted_with_its_key_and_its_shard_metrics_are_parameters() -> None:
    stream = RESOURCES["EventStream"]["Properties"]
    assert stream["StreamEncryption"] == {"EncryptionType": "KMS", "KeyId": {"Ref": "StreamKey"}}
    assert stream["ShardCount"] == {"Ref": "StreamShardCount"}
    assert stream["RetentionPeriodHours"] == {"Ref": "StreamRetentionHours"}
    on = _translated(StreamShardLevelMetrics="IncomingRecords")["EventStream"]["Properties"]
    assert on["DesiredShardLevelMetrics"]["Fn::If"][1] == {"Ref": "StreamShardLevelMetrics"}


def test_the_function_role_reads_only_its_stream_and_writes_only_its_table() -> None:
    resources = _translated()
    role = resources["ProcessStreamFunctionRole"]["Properties"]
    # Not the SAM Kinesis event's AWSLambdaKinesisExecutionRole, which allows Resource "*".
    assert not [arn for arn in role.get("ManagedPolicyArns", []) if "Kinesis" in str(arn)]
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    by_sid = {s["Sid"]: s for s in statements if "Sid" in s}
    assert by_sid["ReadEventStream"]["Resource"] == {"Fn::GetAtt": ["EventStream", "Arn"]}
    assert by_sid["WriteEvents"]["Action"] == "dynamodb:BatchWriteItem"
    assert by_sid["WriteEvents"]["Resource"] == {"Fn::GetAtt": ["StreamEventTable", "Arn"]}
    assert by_sid["DeadLetterRanges"]["Resource"] == {
        "Fn::GetAtt": ["StreamDeadLetterQueue", "Arn"]
    }
    assert by_sid["DecryptEventStream"]["Resource"] == {"Fn::GetAtt": ["StreamKey", "Arn"]}


def test_the_table_has_the_access_pattern_indexes_recovery_encryption_and_a_billing_choice() -> (
    None
):
    table = RESOURCES["StreamEventTable"]
    props = table["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "eventId", "KeyType": "HASH"}]
    indexes = {
        i["IndexName"]: [k["AttributeName"] for k in i["KeySchema"]]
        for i in props["GlobalSecondaryIndexes"]
    }
    assert indexes == {
        "ByUserTime": ["userId", "timestamp"],
        "ByTypeTime": ["eventType", "timestamp"],
    }
    assert props["BillingMode"] == {"Ref": "StreamTableBillingMode"}
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["SSESpecification"]["KMSMasterKeyId"] == {"Ref": "StreamKey"}
    assert table["DeletionPolicy"] == "Retain"
    provisioned = _translated(StreamTableBillingMode="PROVISIONED")["StreamEventTable"][
        "Properties"
    ]
    assert provisioned["ProvisionedThroughput"]["Fn::If"][0] == "StreamTableProvisioned"
    for index in provisioned["GlobalSecondaryIndexes"]:
        assert index["ProvisionedThroughput"]["Fn::If"][0] == "StreamTableProvisioned"


def test_failed_events_alarm_on_the_functions_metric_over_the_threshold_parameter() -> None:
    alarm = RESOURCES["StreamFailedEventsAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("Sluice", "FailedEvents")
    assert alarm["Threshold"] == {"Ref": "AlarmStreamFailedEvents"}
    assert alarm["AlarmActions"]["Fn::If"][2] == [{"Ref": "AlarmTopic"}]


def test_stream_names_derive_from_the_stack_name() -> None:
    for logical_id, prop in (
        ("EventStream", "Name"),
        ("StreamDeadLetterQueue", "QueueName"),
        ("ProcessStreamLogGroup", "LogGroupName"),
    ):
        assert "${AWS::StackName}" in RESOURCES[logical_id]["Properties"][prop]["Fn::Sub"], (
            logical_id
        )
