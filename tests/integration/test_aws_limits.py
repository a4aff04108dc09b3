"""The local runtime refuses what AWS refuses (emulator_fixes, strict mode), as AWS does.

Each test breaks one limit on purpose, with tiny state machines and queues of its own, and sees
AWS's outcome: an Express execution stopped at its limit, States.DataLimitExceeded that
States.ALL does not catch, a Task's TimeoutSeconds, SQS's MaximumMessageSize and short polls.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from sluice_local.emulator import fixes as emulator_fixes
from sluice_local.emulator import timescale

ROLE = "arn:aws:iam::123456789012:role/limits"
KIB = 1024
CATCH_ALL = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}]
CAUGHT = {"Type": "Pass", "End": True}
# Twice the input's "s": over 256 KiB when "s" is 150 KB, although the input itself is not.
DOUBLE = {"Type": "Pass", "Parameters": {"a.$": "$.s", "b.$": "$.s"}, "End": True}
BIG_INPUT = json.dumps({"s": "x" * 150_000, "items": [1]})


@pytest.fixture
def aws() -> Iterator[None]:
    emulator_fixes.install()
    emulator_fixes.set_strict(True)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield
    emulator_fixes.set_strict(True)


@pytest.fixture
def time_scale() -> Iterator[Callable[[float], None]]:
    """Set the runtime's time scale for one test (another test may have left its own)."""
    before = timescale.current_scale()
    yield timescale.set_time_scale
    timescale.set_time_scale(before)


def _run(
    definition: dict[str, Any], *, express: bool = False, data: str = "{}", timeout: float = 30
) -> dict[str, Any]:
    sfn: Any = boto3.client("stepfunctions", region_name="us-east-1")
    arn = sfn.create_state_machine(
        name=f"limits-{uuid.uuid4().hex[:8]}",
        definition=json.dumps(definition),
        roleArn=ROLE,
        type="EXPRESS" if express else "STANDARD",
    )["stateMachineArn"]
    execution_arn = sfn.start_execution(stateMachineArn=arn, name=uuid.uuid4().hex, input=data)[
        "executionArn"
    ]
    deadline = time.monotonic() + timeout
    while (execution := sfn.describe_execution(executionArn=execution_arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "execution did not end"
        time.sleep(0.02)
    # moto sets the status before it appends the closing event to the history: wait for it.
    closing = {"ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"}
    while (events := sfn.get_execution_history(executionArn=execution_arn)["events"])[-1][
        "type"
    ] not in closing:
        assert time.monotonic() < deadline, "the history has no closing event"
        time.sleep(0.02)
    return {**execution, "events": [e["type"] for e in events]}


def _in_map(state: dict[str, Any], catch: list[dict[str, Any]]) -> dict[str, Any]:
    """The state as a Map's one iteration (Pass states have no Catch; the Map has)."""
    return {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemSelector": {"s.$": "$.s"},
                "ItemProcessor": {"StartAt": "Inner", "States": {"Inner": state}},
                "Catch": catch,
                "End": True,
            },
            "Caught": CAUGHT,
        },
    }


def _queue(attributes: dict[str, str] | None = None) -> tuple[Any, str]:
    sqs: Any = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:8]}", Attributes=attributes or {})
    return sqs, str(url["QueueUrl"])


def _receive_machine(url: str, *, wait_s: int, **task: Any) -> dict[str, Any]:
    """A state machine of one SDK ReceiveMessage task on ``url`` (with ``task``'s Retry, Catch
    or TimeoutSeconds) and the Caught state its Catch leads to."""
    receive = {
        "Type": "Task",
        "Resource": "arn:aws:states:::aws-sdk:sqs:receiveMessage",
        "Parameters": {"QueueUrl": url, "WaitTimeSeconds": wait_s},
        **task,
        "End": True,
    }
    return {"StartAt": "Receive", "States": {"Receive": receive, "Caught": CAUGHT}}


def _small_queue_and_dead_letter_queue() -> tuple[Any, str, str, str, str]:
    """A queue that takes messages up to 1 KiB, and a second queue for what it refuses:
    (sqs, url, arn, dead-letter url, dead-letter arn)."""
    sqs, url = _queue({"MaximumMessageSize": str(KIB)})
    _, dlq_url = _queue()
    arn, dlq_arn = (
        sqs.get_queue_attributes(QueueUrl=u, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        for u in (url, dlq_url)
    )
    return sqs, url, arn, dlq_url, dlq_arn


# -- Express executions stop at 5 minutes ----------------------------------------------------


def test_an_express_execution_ends_timed_out_at_its_limit(
    aws: None, monkeypatch: pytest.MonkeyPatch, time_scale: Callable[[float], None]
) -> None:
    time_scale(1.0)
    monkeypatch.setattr(emulator_fixes, "EXPRESS_LIMIT_SECONDS", 0.5)  # 300 s in AWS
    wait = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 30, "End": True}}}
    started = time.monotonic()
    execution = _run(wait, express=True)
    assert execution["status"] == "TIMED_OUT"
    assert execution["events"][-1] == "ExecutionTimedOut"
    assert time.monotonic() - started < 5


def test_a_wait_past_the_express_limit_times_out_although_waits_are_time_scaled(
    aws: None, time_scale: Callable[[float], None]
) -> None:
    # The limit is on the wall clock, the execution's own clock. A Wait of 400 s would still be
    # waiting at 300 s in AWS: it times out once its scaled part up to the limit (0.6 s) passed.
    time_scale(0.002)
    wait: dict[str, Any] = {
        "StartAt": "Wait",
        "States": {"Wait": {"Type": "Wait", "Seconds": 400, "End": True}},
    }
    assert _run(wait, express=True)["status"] == "TIMED_OUT"
    # In a Map's iterations too; and a Wait that ends within the limit is fine.
    in_map = _in_map(wait["States"]["Wait"], CATCH_ALL)
    two = json.dumps({"items": [1, 2], "s": ""})
    assert _run(in_map, express=True, data=two)["status"] == "TIMED_OUT"
    wait["States"]["Wait"]["Seconds"] = 60
    assert _run(wait, express=True)["status"] == "SUCCEEDED"


def test_a_standard_execution_has_no_such_limit(
    aws: None, monkeypatch: pytest.MonkeyPatch, time_scale: Callable[[float], None]
) -> None:
    time_scale(0.3)
    monkeypatch.setattr(emulator_fixes, "EXPRESS_LIMIT_SECONDS", 0.1)
    wait = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 1, "End": True}}}
    assert _run(wait)["status"] == "SUCCEEDED"


# -- State data over 256 KiB: States.DataLimitExceeded, which States.ALL does not catch --------


def test_a_pass_building_over_256_kib_fails_the_execution_through_a_catch_all(aws: None) -> None:
    execution = _run(_in_map(DOUBLE, CATCH_ALL), data=BIG_INPUT)
    assert (execution["status"], execution["error"]) == ("FAILED", "States.DataLimitExceeded")
    parallel = {
        "StartAt": "Both",
        "States": {
            "Both": {
                "Type": "Parallel",
                "Branches": [{"StartAt": "Double", "States": {"Double": DOUBLE}}],
                "Catch": CATCH_ALL,
                "End": True,
            },
            "Caught": CAUGHT,
        },
    }
    execution = _run(parallel, data=BIG_INPUT)
    assert (execution["status"], execution["error"]) == ("FAILED", "States.DataLimitExceeded")


def test_a_catcher_naming_data_limit_exceeded_sees_it(aws: None) -> None:
    # AWS's docs exclude it from States.ALL only; the Map fails with its iteration's error.
    named = [{"ErrorEquals": ["States.DataLimitExceeded"], "ResultPath": None, "Next": "Caught"}]
    execution = _run(_in_map(DOUBLE, named), data=BIG_INPUT)
    assert execution["status"] == "SUCCEEDED"
    assert "MapStateFailed" in execution["events"]


def test_a_task_result_over_256_kib_fails_the_execution_through_a_catch_all(aws: None) -> None:
    sqs, url = _queue()
    sqs.send_message(QueueUrl=url, MessageBody="x" * 270_000)  # SQS takes up to 1 MiB
    receive = _receive_machine(
        url,
        wait_s=1,
        Retry=[{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2}],
        Catch=CATCH_ALL,
    )
    execution = _run(receive)
    assert (execution["status"], execution["error"]) == ("FAILED", "States.DataLimitExceeded")
    assert execution["events"].count("TaskScheduled") == 1  # not retried either


def test_task_parameters_over_256_kib_fail_before_the_call(aws: None) -> None:
    sqs, url = _queue()
    send = {
        "StartAt": "Send",
        "States": {
            "Send": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage",
                "Parameters": {"QueueUrl": url, "MessageBody": {"a.$": "$.s", "b.$": "$.s"}},
                "Catch": CATCH_ALL,
                "End": True,
            },
            "Caught": CAUGHT,
        },
    }
    execution = _run(send, data=BIG_INPUT)
    assert (execution["status"], execution["error"]) == ("FAILED", "States.DataLimitExceeded")
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"


def test_state_data_is_measured_as_compact_utf8_json(aws: None) -> None:
    # 40,000 small numbers: 224 KiB as AWS counts them, 263 KiB with ", " separators (moto's).
    numbers = json.dumps({"n": list(range(40_000))})
    assert _run({"StartAt": "P", "States": {"P": CAUGHT}}, data=numbers)["status"] == "SUCCEEDED"


def test_states_runtime_is_not_caught_by_states_all(aws: None) -> None:
    missing = {"Type": "Pass", "Parameters": {"x.$": "$.missing"}, "End": True}
    execution = _run(_in_map(missing, CATCH_ALL), data=json.dumps({"items": [1], "s": ""}))
    assert (execution["status"], execution["error"]) == ("FAILED", "States.Runtime")


# -- Task TimeoutSeconds (moto honours it; the call itself is not stopped) ----------------------


def test_a_task_past_its_timeout_seconds_fails_with_a_catchable_states_timeout(
    aws: None, time_scale: Callable[[float], None]
) -> None:
    time_scale(1.0)  # TimeoutSeconds is wall-clock; the long poll must not be scaled below it
    _, url = _queue()
    receive = _receive_machine(
        url,
        wait_s=5,
        TimeoutSeconds=1,
        Catch=[{"ErrorEquals": ["States.Timeout"], "Next": "Caught"}],
    )
    started = time.monotonic()
    execution = _run(receive)
    assert execution["status"] == "SUCCEEDED"
    assert "TaskTimedOut" in execution["events"]
    assert time.monotonic() - started < 4


# -- SQS MaximumMessageSize and short polls ------------------------------------------------


def test_a_message_over_the_queues_maximum_size_is_refused_counting_bytes_and_attributes(
    aws: None,
) -> None:
    sqs, url = _queue({"MaximumMessageSize": str(KIB)})
    sqs.send_message(QueueUrl=url, MessageBody="x" * KIB)  # exactly the maximum
    attribute = {"why": {"DataType": "String", "StringValue": "y" * 20}}  # 3 + 6 + 20 bytes
    too_large: list[dict[str, Any]] = [
        {"MessageBody": "x" * (KIB + 1)},
        {"MessageBody": "é" * 600},  # 600 characters, 1,200 bytes
        {"MessageBody": "x" * 1000, "MessageAttributes": attribute},
    ]
    for message in too_large:
        with pytest.raises(ClientError) as refused:
            sqs.send_message(QueueUrl=url, **message)
        assert refused.value.response["Error"]["Code"] == "InvalidParameterValue"
        assert refused.value.response["Error"]["Message"] == (
            "One or more parameters are invalid. Reason: Message must be shorter than 1024 bytes."
        )
    entries = [{"Id": "fits", "MessageBody": "ok"}, {"Id": "big", "MessageBody": "é" * 600}]
    with pytest.raises(ClientError, match="Message must be shorter than 1024 bytes"):
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "1"  # the batch was refused whole


def _received(sqs: Any, url: str, **kwargs: Any) -> int:
    time.sleep(0.002)  # VisibilityTimeout 0: visible again once moto's millisecond clock moved
    return len(
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, **kwargs).get("Messages", [])
    )


def test_a_short_poll_of_a_few_messages_sometimes_answers_none_a_long_poll_always_sees_them(
    aws: None, time_scale: Callable[[float], None]
) -> None:
    time_scale(1.0)
    sqs, url = _queue({"VisibilityTimeout": "0"})  # every receive may see all 3 again
    for n in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=str(n))
    short = [_received(sqs, url) for _ in range(40)]
    assert 0 in short and 3 in short
    assert all(_received(sqs, url, WaitTimeSeconds=1) for _ in range(20))
    # With the queue's ReceiveMessageWaitTimeSeconds set, a receive without WaitTimeSeconds
    # long-polls; and with 10 or more visible a short poll always finds some.
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"ReceiveMessageWaitTimeSeconds": "1"})
    assert all(_received(sqs, url) for _ in range(20))
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"ReceiveMessageWaitTimeSeconds": "0"})
    for n in range(7):
        sqs.send_message(QueueUrl=url, MessageBody=str(n))
    assert all(_received(sqs, url) for _ in range(20))


def test_short_poll_answers_repeat_from_run_to_run(aws: None) -> None:
    sqs: Any = boto3.client("sqs", region_name="us-east-1")

    def answers() -> list[int]:  # from a new queue of the same name, as in a new run
        url = sqs.create_queue(QueueName="same", Attributes={"VisibilityTimeout": "0"})
        sqs.send_message(QueueUrl=url["QueueUrl"], MessageBody="m")
        answered = [_received(sqs, url["QueueUrl"]) for _ in range(20)]
        sqs.delete_queue(QueueUrl=url["QueueUrl"])
        return answered

    first = answers()
    assert first == answers() and 0 in first and 1 in first


# -- What a refused delivery does to EventBridge and SNS -------------------------------------


def test_an_event_too_large_for_its_target_queue_goes_to_the_targets_dead_letter_queue(
    aws: None,
) -> None:
    sqs, _, arn, dlq_url, dlq_arn = _small_queue_and_dead_letter_queue()
    events: Any = boto3.client("events", region_name="us-east-1")
    events.put_rule(Name="r", EventPattern=json.dumps({"source": ["sluice.test"]}))
    events.put_targets(
        Rule="r", Targets=[{"Id": "q", "Arn": arn, "DeadLetterConfig": {"Arn": dlq_arn}}]
    )
    entry = {"Source": "sluice.test", "DetailType": "t", "Detail": json.dumps({"p": "x" * 2000})}
    assert events.put_events(Entries=[entry])["FailedEntryCount"] == 0  # accepted all the same
    [dead] = sqs.receive_message(
        QueueUrl=dlq_url, WaitTimeSeconds=1, MessageAttributeNames=["All"]
    )["Messages"]
    assert json.loads(dead["Body"])["detail"]["p"] == "x" * 2000
    reason = dead["MessageAttributes"]["ERROR_MESSAGE"]["StringValue"]
    assert "Message must be shorter than 1024 bytes" in reason
    assert dead["MessageAttributes"]["TARGET_ARN"]["StringValue"] == arn


def test_a_message_too_large_for_a_subscribed_queue_goes_to_the_subscriptions_dlq(
    aws: None,
) -> None:
    sqs, url, arn, dlq_url, dlq_arn = _small_queue_and_dead_letter_queue()
    sns: Any = boto3.client("sns", region_name="us-east-1")
    topic = sns.create_topic(Name="t")["TopicArn"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=arn,
        Attributes={
            "RawMessageDelivery": "true",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn}),
        },
    )
    sns.publish(TopicArn=topic, Message="y" * 2000)  # accepted all the same
    sns.publish(TopicArn=topic, Message="small")
    [delivered] = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
    [dead] = sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=1)["Messages"]
    assert (delivered["Body"], dead["Body"]) == ("small", "y" * 2000)


# -- Lenient mode --------------------------------------------------------------------------


def test_lenient_mode_refuses_only_what_moto_alone_refuses(
    aws: None, monkeypatch: pytest.MonkeyPatch, time_scale: Callable[[float], None]
) -> None:
    time_scale(0.3)
    emulator_fixes.set_strict(False)
    monkeypatch.setattr(emulator_fixes, "EXPRESS_LIMIT_SECONDS", 0.1)
    wait = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 1, "End": True}}}
    assert _run(wait, express=True)["status"] == "SUCCEEDED"
    assert _run(_in_map(DOUBLE, CATCH_ALL), data=BIG_INPUT)["status"] == "SUCCEEDED"
    sqs, url = _queue({"MaximumMessageSize": str(KIB)})
    sqs.send_message(QueueUrl=url, MessageBody="é" * 600)
    assert all(
        sqs.receive_message(QueueUrl=url, VisibilityTimeout=0).get("Messages") for _ in range(20)
    )
