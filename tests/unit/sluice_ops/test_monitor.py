"""sluice monitor against moto: each figure from where AWS keeps it, null with a reason when it
cannot be had, and the dead-letter queue left as it was."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from rich.console import Console
from test_sluice_cli import FakeStack, run_sluice, sluice_stack

from sluice_ops.monitor import render, snapshot

__all__ = ["sluice_stack"]  # the fixture, imported for pytest


def _send(stack: FakeStack, output: str, count: int, **attributes: str) -> None:
    sqs = stack.client("sqs")
    for n in range(count):
        sqs.send_message(
            QueueUrl=stack.outputs[output],
            MessageBody=json.dumps({"s3_details": {"bucket": "b", "key": f"{n}.csv"}}),
            MessageAttributes={
                k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()
            },
        )


def _metric(stack: FakeStack, namespace: str, name: str, dims: dict[str, str], *values: float):
    stack.client("cloudwatch").put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                "Values": list(values),
                "Timestamp": datetime.now(UTC),
            }
        ],
    )


def test_queue_depth_counts_visible_and_in_flight_messages(sluice_stack: FakeStack) -> None:
    _send(sluice_stack, "ObjectQueueUrl", 5)
    sluice_stack.client("sqs").receive_message(
        QueueUrl=sluice_stack.outputs["ObjectQueueUrl"], MaxNumberOfMessages=2
    )
    snap = snapshot(sluice_stack.context())
    assert snap["queues"]["ObjectQueue"]["visible"] == 3
    assert snap["queues"]["ObjectQueue"]["in_flight"] == 2
    assert snap["queues"]["PriorityQueue"] == {"visible": 0, "in_flight": 0, "oldest_age_s": 0.0}


def test_the_oldest_age_comes_from_cloudwatch_and_is_null_with_a_reason_without_it(
    sluice_stack: FakeStack,
) -> None:
    _send(sluice_stack, "ObjectQueueUrl", 1)
    snap = snapshot(sluice_stack.context())
    assert snap["queues"]["ObjectQueue"]["oldest_age_s"] is None
    reason = snap["unavailable"]["queues.ObjectQueue.oldest_age_s"]
    assert "ApproximateAgeOfOldestMessage" in reason

    queue_name = sluice_stack.outputs["ObjectQueueUrl"].rsplit("/", 1)[-1]
    _metric(sluice_stack, "AWS/SQS", "ApproximateAgeOfOldestMessage", {"QueueName": queue_name}, 42)
    snap = snapshot(sluice_stack.context())
    assert snap["queues"]["ObjectQueue"]["oldest_age_s"] == 42.0
    assert "queues.ObjectQueue.oldest_age_s" not in snap["unavailable"]


def test_dead_letters_are_counted_by_error_and_left_visible(sluice_stack: FakeStack) -> None:
    _send(sluice_stack, "ObjectDeadLetterQueueUrl", 2, **{"sluice-error": "RowsFailed"})
    _send(sluice_stack, "ObjectDeadLetterQueueUrl", 1, **{"sluice-error": "EmptyObject"})
    _send(sluice_stack, "ObjectDeadLetterQueueUrl", 1)  # moved by SQS: no sluice-error

    snap = snapshot(sluice_stack.context())

    assert snap["dead_letters"]["total"] == 4
    assert snap["dead_letters"]["by_error"] == {
        "RowsFailed": 2,
        "EmptyObject": 1,
        "MaxReceiveCountExceeded": 1,
    }
    attributes = sluice_stack.client("sqs").get_queue_attributes(
        QueueUrl=sluice_stack.outputs["ObjectDeadLetterQueueUrl"],
        AttributeNames=["ApproximateNumberOfMessages"],
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "4"  # released, not held


def test_a_dead_letter_sample_of_zero_counts_without_receiving(sluice_stack: FakeStack) -> None:
    _send(sluice_stack, "ObjectDeadLetterQueueUrl", 3, **{"sluice-error": "NotCsv"})
    snap = snapshot(sluice_stack.context(), dead_letter_sample=0)
    assert snap["dead_letters"] == {"total": 3, "by_error": {}, "sampled": 0}


def test_the_lease_shows_who_holds_it_until_when(sluice_stack: FakeStack) -> None:
    table = sluice_stack.outputs["LeaseTableName"]
    dynamodb = sluice_stack.client("dynamodb")
    assert snapshot(sluice_stack.context())["lease"] == {
        "held": False,
        "holder": None,
        "until": None,
    }

    until = time.time() + 90
    dynamodb.put_item(
        TableName=table,
        Item={
            "lease": {"S": "drain"},
            "holder": {"S": "arn:aws:states:us-east-1:123456789012:express:drain:run-1"},
            "expiresAt": {"N": f"{until:.3f}"},
        },
    )
    lease = snapshot(sluice_stack.context())["lease"]
    assert lease["held"] is True and lease["holder"].endswith(":run-1")
    assert lease["until"] == datetime.fromtimestamp(until, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    lease = snapshot(sluice_stack.context(), now=until + 1)["lease"]
    assert lease["held"] is False and lease["until"] is not None


def test_drains_come_from_the_states_metrics_when_cloudwatch_has_them(
    sluice_stack: FakeStack,
) -> None:
    machine = {"StateMachineArn": sluice_stack.outputs["DrainStateMachineArn"]}
    _metric(sluice_stack, "AWS/States", "ExecutionsStarted", machine, 4, 3)
    _metric(sluice_stack, "AWS/States", "ExecutionsFailed", machine, 1)
    drains = snapshot(sluice_stack.context())["drains"]
    assert drains == {
        "started": 7,
        "failed": 1,
        "timed_out": 0,
        "source": "cloudwatch",
        "window_s": 300,
    }


def test_without_drain_metrics_the_executions_are_listed_where_the_endpoint_allows_it(
    sluice_stack: FakeStack,
) -> None:
    sfn = sluice_stack.client("stepfunctions")
    for n in range(2):
        sfn.start_execution(
            stateMachineArn=sluice_stack.outputs["DrainStateMachineArn"], name=f"e{n}"
        )
    snap = snapshot(sluice_stack.context())
    assert snap["drains"]["source"] == "list_executions"
    assert snap["drains"]["started"] == 2


def test_without_drain_metrics_or_listing_the_drains_are_null_with_the_reason(
    sluice_stack: FakeStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    ctx = sluice_stack.context()
    real_client = ctx.client

    def client(service: str) -> Any:
        made = real_client(service)
        if service == "stepfunctions":  # as AWS answers for an Express state machine

            def refuse(*_: Any, **__: Any) -> Any:
                error: Any = {"Code": "StateMachineTypeNotSupported", "Message": "Express"}
                raise ClientError({"Error": error}, "ListExecutions")

            monkeypatch.setattr(
                made, "get_paginator", lambda _name: type("P", (), {"paginate": refuse})()
            )
        return made

    monkeypatch.setattr(ctx, "client", client)
    snap = snapshot(ctx)
    assert snap["drains"]["started"] is None
    assert "StateMachineTypeNotSupported" in snap["unavailable"]["drains"]
    assert "Express" in snap["unavailable"]["drains"]


def test_process_object_figures_come_from_the_lambda_metrics_and_its_reserved_concurrency(
    sluice_stack: FakeStack,
) -> None:
    function = {"FunctionName": sluice_stack.outputs["ProcessObjectFunctionName"]}
    _metric(sluice_stack, "AWS/Lambda", "ConcurrentExecutions", function, 2, 4)
    _metric(sluice_stack, "AWS/Lambda", "Throttles", function, 1, 1)
    _metric(sluice_stack, "AWS/Lambda", "Errors", function, 0)
    po = snapshot(sluice_stack.context())["process_object"]
    assert po["peak_concurrency"] == 4 and po["limit"] == 5
    assert po["throttles"] == 2 and po["errors"] == 0


def test_rows_latency_and_failure_rate_come_from_the_pipelines_emf_metrics(
    sluice_stack: FakeStack,
) -> None:
    service = {"service": "sluice"}
    _metric(sluice_stack, "Sluice", "RowsSent", service, 90)
    _metric(sluice_stack, "Sluice", "RowsFailed", service, 10)
    _metric(sluice_stack, "Sluice", "DownstreamLatency", service, 10, 30)
    snap = snapshot(sluice_stack.context())
    assert snap["rows_per_s"] is not None and snap["rows_per_s"] > 0
    assert snap["downstream"]["failure_rate"] == 0.1
    assert snap["downstream"]["latency_ms"] == 20.0
    assert "downstream.in_flight" in snap["unavailable"]


def test_metrics_never_published_are_null_with_a_reason_not_zero(sluice_stack: FakeStack) -> None:
    snap = snapshot(sluice_stack.context())
    for path in ("rows_per_s", "process_object.throttles", "downstream.latency_ms"):
        assert "never published to CloudWatch" in snap["unavailable"][path], path
    assert snap["rows_per_s"] is None
    assert snap["process_object"]["throttles"] is None


def test_alarms_in_alarm_are_the_stacks_own(sluice_stack: FakeStack) -> None:
    cloudwatch = sluice_stack.client("cloudwatch")
    topic = "arn:aws:sns:us-east-1:123456789012:sluice-AlarmTopic"
    sluice_stack.outputs["AlarmTopicArn"] = topic
    for name, actions in (
        ("sluice-DeadLetterAlarm-ABC", []),
        ("custom-name-on-the-topic", [topic]),
        ("other-stack-DeadLetterAlarm-XYZ", []),
        ("sluice-ObjectQueueAgeAlarm-DEF", []),
    ):
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            Namespace="AWS/SQS",
            MetricName="ApproximateNumberOfMessagesVisible",
            Statistic="Maximum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=0,
            ComparisonOperator="GreaterThanThreshold",
            AlarmActions=actions,
        )
        if name != "sluice-ObjectQueueAgeAlarm-DEF":
            cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="test")
    snap = snapshot(sluice_stack.context())
    assert snap["alarms_in_alarm"] == ["custom-name-on-the-topic", "sluice-DeadLetterAlarm-ABC"]
    assert "alarms_in_alarm" not in snap["unavailable"]


def test_no_alarms_at_all_is_said_not_hidden(sluice_stack: FakeStack) -> None:
    snap = snapshot(sluice_stack.context())
    assert snap["alarms_in_alarm"] == []
    assert "no CloudWatch alarm" in snap["unavailable"]["alarms_in_alarm"]


def test_one_figure_failing_leaves_the_others(sluice_stack: FakeStack) -> None:
    sluice_stack.client("dynamodb").delete_table(TableName=sluice_stack.outputs["LeaseTableName"])
    _send(sluice_stack, "ObjectQueueUrl", 2)
    snap = snapshot(sluice_stack.context())
    assert snap["lease"]["held"] is None
    assert "ResourceNotFoundException" in snap["unavailable"]["lease"]
    assert snap["queues"]["ObjectQueue"]["visible"] == 2


def test_once_json_prints_one_serialisable_snapshot(
    capsys: pytest.CaptureFixture[str], sluice_stack: FakeStack
) -> None:
    _send(sluice_stack, "PriorityQueueUrl", 1)
    status, out, _ = run_sluice(capsys, "monitor", "--once", "--json")
    assert status == 0
    snap = json.loads(out)
    assert snap["stack"] == "sluice" and snap["queues"]["PriorityQueue"]["visible"] == 1
    for key in ("time", "queues", "dead_letters", "lease", "drains", "process_object",
                "rows_per_s", "downstream", "alarms_in_alarm", "unavailable"):  # fmt: skip
        assert key in snap
    assert datetime.strptime(snap["time"], "%Y-%m-%dT%H:%M:%SZ")


def test_the_table_shows_n_a_with_reasons_and_escapes_error_names(sluice_stack: FakeStack) -> None:
    _send(sluice_stack, "ObjectDeadLetterQueueUrl", 1, **{"sluice-error": "Evil\x1b[2J"})
    console = Console(record=True, width=160, color_system=None)
    console.print(render(snapshot(sluice_stack.context())))
    text = console.export_text()
    assert "n/a *" in text and "rows_per_s" in text and "never published" in text
    assert "Evil\\x1b[2J" in text and "\x1b[2J" not in text
    assert "dead letters" in text


@pytest.mark.parametrize(
    ("option", "message"),
    [(["--interval", "0"], "--interval"), (["--window", "10"], "--window"),
     (["--dlq-sample", "-1"], "--dlq-sample")],
)  # fmt: skip
def test_bad_monitor_options_are_refused(
    capsys: pytest.CaptureFixture[str], option: list[str], message: str
) -> None:
    status, _, err = run_sluice(capsys, "monitor", "--once", *option)
    assert status == 2 and message in err


def test_peeked_dead_letters_are_released_even_when_the_reading_fails_midway(
    sluice_stack: FakeStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sluice_ops import monitor_resources

    _send(sluice_stack, "ObjectDeadLetterQueueUrl", 3, **{"sluice-error": "NotCsv"})

    def broken(message: dict[str, Any]) -> Any:
        raise KeyboardInterrupt  # as Ctrl-C between receive and release

    monkeypatch.setattr(monitor_resources.DeadLetter, "from_message", broken)
    with pytest.raises(KeyboardInterrupt):
        monitor_resources.peek(
            sluice_stack.client("sqs"), sluice_stack.outputs["ObjectDeadLetterQueueUrl"], 10
        )
    attributes = sluice_stack.client("sqs").get_queue_attributes(
        QueueUrl=sluice_stack.outputs["ObjectDeadLetterQueueUrl"],
        AttributeNames=["ApproximateNumberOfMessages"],
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "3"


def test_the_table_says_when_reasons_cover_only_part_of_the_dead_letters(
    sluice_stack: FakeStack,
) -> None:
    _send(sluice_stack, "ObjectDeadLetterQueueUrl", 3, **{"sluice-error": "NotCsv"})
    snap = snapshot(sluice_stack.context(), dead_letter_sample=2)
    assert snap["dead_letters"] == {"total": 3, "by_error": {"NotCsv": 2}, "sampled": 2}
    console = Console(record=True, width=160, color_system=None)
    console.print(render(snap))
    text = console.export_text()
    assert "reasons read" in text and "2 of 3" in text


def test_an_invoked_function_without_throttle_or_error_metrics_has_had_none(
    sluice_stack: FakeStack,
) -> None:
    function = {"FunctionName": sluice_stack.outputs["ProcessObjectFunctionName"]}
    _metric(sluice_stack, "AWS/Lambda", "Invocations", function, 12)
    po = snapshot(sluice_stack.context())["process_object"]
    assert po["throttles"] == 0 and po["errors"] == 0
