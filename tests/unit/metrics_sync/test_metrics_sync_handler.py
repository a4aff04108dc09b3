"""The handler end to end: moto CloudWatch and Secrets Manager, the local Dynatrace over HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dynatrace_errors import DynatraceAuthError, DynatraceConfigError
from dynatrace_fetch import Window
from sluice_local.handlers import Handler
from sluice_local.servers.dynatrace import DynatraceServer

EVENTS = Path(__file__).resolve().parents[3] / "events"
STACK = "sluice-test"
QUEUES = {
    "OBJECT_QUEUE_NAME": "sluice-test-ObjectQueue-AB12",
    "PRIORITY_QUEUE_NAME": "sluice-test-PriorityQueue-CD34",
    "DEAD_LETTER_QUEUE_NAME": "sluice-test-ObjectDeadLetterQueue-EF56",
}
PROCESS = "sluice-test-ProcessObjectFunction-GH78"
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:DrainStateMachine-IJ90"


def scheduled(at: datetime) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / "metrics_sync_schedule.json").read_text())
    event["time"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return event


def secret(aws: dict[str, Any], value: str) -> str:
    created = aws["secretsmanager"].create_secret(Name="sluice/dynatrace", SecretString=value)
    return str(created["ARN"])


@pytest.fixture
def configure(
    fresh_handler: Callable[[], Handler],
    dynatrace: DynatraceServer,
    aws: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., Handler]:
    def handler(secret_value: str | None = None, **env: str) -> Handler:
        arn = secret(aws, dynatrace.token if secret_value is None else secret_value)
        values = {
            "DYNATRACE_API_URL": dynatrace.url,
            "DYNATRACE_TOKEN_SECRET_ARN": arn,
            "STACK_NAME": STACK,
            "FUNCTION_NAMES": f"{PROCESS}, sluice-test-PlanBatchFunction-KL12",
            "STATE_MACHINE_ARN": MACHINE,
            **QUEUES,
            **env,
        }
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        return fresh_handler()

    return handler


def put(
    aws: dict[str, Any],
    namespace: str,
    name: str,
    dims: dict[str, str],
    at: datetime,
    *values: float,
) -> None:
    aws["cloudwatch"].put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                "Timestamp": at,
                "Value": value,
            }
            for value in values
        ],
    )


def rows_sent(aws: dict[str, Any], at: datetime, *values: float) -> None:
    put(aws, "Sluice", "RowsSent", {"service": "sluice"}, at, *values)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def test_scheduled_run_sends_the_windows_cloudwatch_metrics_as_parsed_lines(
    configure: Callable[..., Handler],
    aws: dict[str, Any],
    dynatrace: DynatraceServer,
    lambda_context: Any,
    logs: Callable[[], list[dict[str, Any]]],
    emitted_metrics: Callable[[], dict[str, Any]],
) -> None:
    handler = configure()
    now = datetime.now(UTC)
    window = Window.ending_before(now, 300, 180)
    first, second = window.start, window.start + timedelta(minutes=1)
    queue = {"QueueName": QUEUES["OBJECT_QUEUE_NAME"]}
    put(
        aws, "AWS/SQS", "ApproximateNumberOfMessagesVisible", queue, first + timedelta(seconds=5), 4
    )
    put(aws, "AWS/SQS", "NumberOfMessagesSent", queue, second + timedelta(seconds=30), 3)
    put(aws, "AWS/Lambda", "Errors", {"FunctionName": PROCESS}, second, 1)
    rows_sent(aws, first + timedelta(seconds=1), 5, 7)
    put(aws, "Sluice", "ObjectProcessingDuration", {"service": "sluice"}, first, 100, 300)
    # Outside the window: the previous run sent it, the next one will.
    rows_sent(aws, window.end + timedelta(seconds=1), 50)
    rows_sent(aws, first - timedelta(seconds=1), 60)

    summary = handler(scheduled(now), lambda_context)

    assert summary["window"] == window.to_dict()
    assert (summary["lines_ok"], summary["lines_invalid"], summary["requests"]) == (5, 0, 1)
    [depth] = dynatrace.find("sluice.queue.messages_visible")
    assert depth.dimensions == {"stack": STACK, "queue": QUEUES["OBJECT_QUEUE_NAME"]}
    assert depth.payload == {"min": 4, "max": 4, "sum": 4, "count": 1}
    assert depth.timestamp == ms(first)
    [sent] = dynatrace.find("sluice.queue.messages_sent.count", stack=STACK)
    assert (sent.kind, sent.payload, sent.timestamp) == ("count", {"delta": 3}, ms(second))
    [errors] = dynatrace.find("sluice.function.errors.count")
    assert errors.dimensions == {"stack": STACK, "function": PROCESS}
    [rows] = dynatrace.find("sluice.rows.sent.count", service="sluice", stack=STACK)
    assert (rows.payload, rows.timestamp) == ({"delta": 12}, ms(first))
    [duration] = dynatrace.find("sluice.objects.processing_duration")
    assert duration.payload == {"min": 100, "max": 300, "sum": 400, "count": 2}
    request = dynatrace.requests[0]
    assert request.headers["Authorization"] == f"Api-Token {dynatrace.token}"
    assert emitted_metrics() == {"DynatraceLinesSent": [5.0], "DynatraceLinesInvalid": [0.0]}
    done = next(line for line in logs() if line["message"] == "metrics synced to Dynatrace")
    assert done["lines_ok"] == 5


def test_the_optional_pipelines_queues_functions_and_metrics_are_synced_when_named(
    configure: Callable[..., Handler],
    aws: dict[str, Any],
    dynatrace: DynatraceServer,
    lambda_context: Any,
) -> None:
    payment_queue, stream_dlq = "sluice-test-payment-events", "sluice-test-stream-dead-letters"
    stream_function = "sluice-test-ProcessStreamFunction-ZZ99"
    # As the template passes them with the payment and stream pipelines on (empties: off).
    handler = configure(
        EXTRA_QUEUE_NAMES=f"{payment_queue},,{stream_dlq}",
        FUNCTION_NAMES=f"{PROCESS},,{stream_function}",
    )
    now = datetime.now(UTC)
    first = Window.ending_before(now, 300, 180).start
    put(
        aws, "AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": payment_queue}, first, 2
    )
    put(aws, "AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": stream_dlq}, first, 1)
    put(aws, "AWS/Lambda", "Invocations", {"FunctionName": stream_function}, first, 4)
    put(aws, "Sluice", "PaymentsRejected", {"service": "sluice"}, first, 1, 1)
    put(aws, "Sluice", "FailedEvents", {"service": "sluice"}, first, 3)
    put(aws, "Sluice", "SuccessRate", {"service": "sluice"}, first, 97.5)

    summary = handler(scheduled(now), lambda_context)

    assert summary["lines_invalid"] == 0
    depths = {
        p.dimensions["queue"]: p.payload["max"]
        for p in dynatrace.find("sluice.queue.messages_visible")
    }
    assert depths == {payment_queue: 2, stream_dlq: 1}
    [invocations] = dynatrace.find("sluice.function.invocations.count")
    assert invocations.dimensions["function"] == stream_function
    [rejected] = dynatrace.find("sluice.payments.rejected.count")
    assert rejected.payload == {"delta": 2}
    [failed] = dynatrace.find("sluice.stream.events_failed.count")
    assert failed.payload == {"delta": 3}
    [rate] = dynatrace.find("sluice.stream.success_rate")
    assert rate.payload["max"] == 97.5


def test_a_token_stored_as_json_is_read_from_its_token_field(
    dynatrace: DynatraceServer,
    configure: Callable[..., Handler],
    aws: dict[str, Any],
    lambda_context: Any,
) -> None:
    handler = configure(secret_value=json.dumps({"token": dynatrace.token}))
    now = datetime.now(UTC)
    rows_sent(aws, Window.ending_before(now, 300, 180).start, 1)
    assert handler(scheduled(now), lambda_context)["lines_ok"] == 1


def test_a_json_secret_without_a_token_is_a_clear_error(
    configure: Callable[..., Handler], lambda_context: Any
) -> None:
    handler = configure(secret_value=json.dumps({"apiToken": "x"}))
    with pytest.raises(DynatraceConfigError, match=r'secret arn:aws:secretsmanager.*"token"'):
        handler(scheduled(datetime.now(UTC)), lambda_context)


def test_a_refused_token_fails_the_invocation_naming_the_secret(
    configure: Callable[..., Handler],
    aws: dict[str, Any],
    lambda_context: Any,
    logs: Callable[[], list[dict[str, Any]]],
) -> None:
    handler = configure(secret_value="dt0c01.REVOKED")
    now = datetime.now(UTC)
    rows_sent(aws, Window.ending_before(now, 300, 180).start, 1)
    with pytest.raises(DynatraceAuthError, match=r"secret arn:aws:secretsmanager:.*HTTP 401"):
        handler(scheduled(now), lambda_context)
    failed = next(line for line in logs() if line["message"] == "metrics not synced to Dynatrace")
    assert failed["error"] == "DynatraceAuthError"
    assert "REVOKED" not in json.dumps(logs())


def test_lines_dynatrace_refuses_are_logged_with_its_reasons_and_counted(
    dynatrace: DynatraceServer,
    logs: Callable[[], list[dict[str, Any]]],
    emitted_metrics: Callable[[], dict[str, Any]],
    configure: Callable[..., Handler],
    aws: dict[str, Any],
    lambda_context: Any,
) -> None:
    handler, now = configure(), datetime.now(UTC)
    window = Window.ending_before(now, 300, 180)
    for minute in range(3):
        at = window.start + timedelta(minutes=minute)
        rows_sent(aws, at, 1)
    # Dynatrace's clock runs ahead: to it, the window's first minute is over an hour old.
    dynatrace.clock = lambda: window.start.timestamp() + 3600 + 30

    summary = handler(scheduled(now), lambda_context)

    assert (summary["lines_ok"], summary["lines_invalid"]) == (2, 1)
    warning = next(line for line in logs() if line["message"].startswith("Dynatrace rejected"))
    [invalid] = warning["invalid_lines"]
    assert "more than an hour in the past" in invalid["error"]
    assert invalid["line"].startswith("sluice.rows.sent.count,")
    assert emitted_metrics()["DynatraceLinesInvalid"] == [1.0]


def test_the_sample_event_of_long_ago_sends_nothing_and_says_which_window(
    configure: Callable[..., Handler], dynatrace: DynatraceServer, lambda_context: Any
) -> None:
    sample = json.loads((EVENTS / "metrics_sync_schedule.json").read_text())
    summary = configure()(sample, lambda_context)
    assert summary["window"] == {
        "start": "2024-01-15T09:57:00+00:00",
        "end": "2024-01-15T10:02:00+00:00",
    }
    assert (summary["datapoints"], summary["requests"]) == (0, 0)
    assert dynatrace.requests == []


def test_an_event_without_a_time_syncs_the_window_before_now(
    configure: Callable[..., Handler], lambda_context: Any
) -> None:
    summary = configure()({}, lambda_context)
    end = datetime.fromisoformat(summary["window"]["end"])
    assert timedelta(seconds=180) <= datetime.now(UTC) - end < timedelta(seconds=245)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DYNATRACE_API_URL": "http://abc12345.live.dynatrace.com"}, "https://"),
        ({"DYNATRACE_API_URL": ""}, "DYNATRACE_API_URL is empty"),
        ({"STACK_NAME": ""}, "STACK_NAME"),
        ({"SYNC_PERIOD_SECONDS": "five"}, "SYNC_PERIOD_SECONDS"),
        ({"SYNC_DELAY_SECONDS": "3500"}, "an hour"),
    ],
)
def test_settings_that_cannot_work_fail_with_what_to_fix(
    configure: Callable[..., Handler], lambda_context: Any, env: dict[str, str], message: str
) -> None:
    with pytest.raises(DynatraceConfigError, match=message):
        configure(**env)({}, lambda_context)
